"""Redaction recall and precision on corpora: real-format fake secrets, real non-secrets.

``tests/secrets/corpus.json`` holds secrets in their providers' formats with random,
fake values (``tests/secrets/make_corpus.py``), each as it shows up in a log (bare, in
a URL, after a flag...). Every one is placed in a Python traceback, an HTTP 401 line
and a JSON log line; recall over all (secret, context) pairs must be at least 99 %,
and the misses are listed. A pair counts as caught when no 8-character piece of the
secret survives, and the text around it (the exception, the status, the JSON) does.

``tests/secrets/clean.txt`` holds lines without secrets that must come out unchanged:
hashes, ids, digests, base64 of non-secrets, versions, prose about tokens and
passwords, and the ids the detector's fingerprints are made of.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from detector.redact import build, redact
from detector.redact._local import LOCAL_RULES

HERE = Path(__file__).parent / "secrets"
CORPUS: dict[str, Any] = json.loads((HERE / "corpus.json").read_text())
CLEAN = [line for line in (HERE / "clean.txt").read_text().splitlines()
         if line and not line.startswith("# ")]
PIECE = 8


def placed(entry: dict[str, str], context: str, snippet: str | None = None) -> str:
    """The entry's snippet (or ``snippet``) written into one of the contexts."""
    text = entry["snippet"] if snippet is None else snippet
    template: str = CORPUS["contexts"][context]
    return template.format(snippet=text, json_snippet=json.dumps(text)[1:-1])


def _pieces(secret: str) -> set[str]:
    pieces: set[str] = set()
    for part in secret.split():
        if len(part) <= PIECE:
            pieces.add(part)
        else:
            pieces.update(part[i:i + PIECE] for i in range(len(part) - PIECE + 1))
    return pieces


def caught(redact: Callable[[str], str], entry: dict[str, str], context: str) -> str | None:
    """``None`` when the secret is gone and its context intact, else what went wrong."""
    output = redact(placed(entry, context))
    without = placed(entry, context, entry["snippet"].replace(entry["secret"], ""))
    seen = output
    if context == "json":
        try:
            record = json.loads(output)
        except ValueError:
            return f"not JSON any more: {output[:160]!r}"
        if record.get("level") != "error" or record.get("status") != 401:
            return f"JSON fields changed: {output[:160]!r}"
        seen, without = record["msg"], json.loads(without)["msg"]
    leaked = sorted(p for p in _pieces(entry["secret"]) if p in seen and p not in without)
    if leaked:
        return f"leaked {leaked[:2]}"
    lost = [anchor for anchor in CORPUS["anchors"][context] if anchor not in output]
    if lost:
        return f"garbled the context, lost {lost}"
    return None


def test_the_corpus_is_big_and_varied() -> None:
    secrets = CORPUS["secrets"]
    assert len(secrets) >= 150
    assert len({e["provider"] for e in secrets}) >= 40
    assert set(CORPUS["contexts"]) == {"traceback", "http_401", "json"}
    for entry in secrets:
        assert entry["secret"] in entry["snippet"], entry


def test_recall_is_at_least_99_percent_over_all_secret_context_pairs() -> None:
    misses = []
    total = 0
    for entry in CORPUS["secrets"]:
        for context in CORPUS["contexts"]:
            total += 1
            problem = caught(redact, entry, context)
            if problem is not None:
                misses.append(f"{entry['provider']} in {context}: {problem} "
                              f"(snippet {entry['snippet'][:80]!r})")
    recall = 1 - len(misses) / total
    assert recall >= 0.99, f"recall {recall:.1%}; misses:\n" + "\n".join(misses)


@pytest.mark.parametrize("engine", ["hyperscan", "regex"])
def test_both_prefilters_give_the_same_redaction(engine: str) -> None:
    rules = build(engine=engine)
    for entry in CORPUS["secrets"]:
        for context in CORPUS["contexts"]:
            text = placed(entry, context)
            assert rules.redact(text) == redact(text), (engine, entry["provider"], context)
    for line in CLEAN:
        assert rules.redact(line) == line


def test_lines_without_secrets_stay_unchanged() -> None:
    changed = [(line, redact(line)) for line in CLEAN if redact(line) != line]
    assert len(CLEAN) >= 60
    assert changed == [], "\n".join(f"{a!r}\n  -> {b!r}" for a, b in changed)


def test_a_whole_event_is_redacted_across_its_lines() -> None:
    event = ("2026-11-20 10:00:03,114 ERROR [worker] could not load signing key\n"
             "Traceback (most recent call last):\n"
             '  File "/srv/app/keys.py", line 12, in load\n'
             "    key = load_pem_private_key(data, password=b'p4ss-w0rd!')\n"
             "ValueError: bad key -----BEGIN RSA PRIVATE KEY-----\n"
             "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
             "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
             "LxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW/VDL5AaWTg0nLVkjRo\n"
             "json: {\"token\": \"tk_8f3a9c2e1b7d4e6f\"}")
    masked = redact(event)
    for secret in ("p4ss-w0rd!", "MIIEow", "VTLw7onL", "LxoS2tFc", "tk_8f3a9c2e1b7d4e6f"):
        assert secret not in masked
    assert "ValueError: bad key -----BEGIN RSA PRIVATE KEY-----***" in masked
    assert masked.splitlines()[-1] == 'json: {"token": "***"}'
    assert masked.splitlines()[:3] == event.splitlines()[:3]


def test_every_project_rule_is_exercised_by_the_corpus() -> None:
    rules = build(gitleaks=False)
    used: set[str] = set()
    for entry in CORPUS["secrets"]:
        text = placed(entry, "http_401")
        for index in rules.prefilter.candidates(text):
            if list(rules.rules[index].spans(text)):
                used.add(rules.rules[index].id)
    assert {rule.id for rule in LOCAL_RULES} - used == set()

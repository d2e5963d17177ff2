"""Redaction: recall on the secrets corpus and cost per line, old vs new, in one run.

The old redaction is ``detector/redact.py`` as it is on ``main`` before the rule-set
rewrite (``git show REV:detector/redact.py``, loaded into a temporary module); the new
one is ``detector.redact`` with each prefilter (hyperscan, and the ``re`` fallback).

* Recall: every secret of ``tests/secrets/corpus.json`` (real formats, fake values)
  in its three contexts (traceback, HTTP 401 line, JSON line); a pair counts as
  caught when no 8-character piece of the secret survives (the same check as
  ``tests/test_redact_corpus.py``). Overall and per provider.
* Cost: microseconds per call on typical log lines without secrets (the throughput
  benchmark's generated corpus), on the part of them that holds no keyword of any
  rule (the prefilter's cost alone), and on the corpus texts with secrets; best of
  ``--repeat`` runs.

    python bench/redaction.py                    # old = main
    python bench/redaction.py --old-rev 86760dc --lines 20000

Writes bench/out/redaction.md and prints it.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import corpus  # noqa: E402
from live import machine  # noqa: E402

from detector.redact import build  # noqa: E402
from tests.test_redact_corpus import CORPUS, caught, placed  # noqa: E402

Redact = Callable[[str], str]


def old_redact(rev: str, work: Path) -> Redact:
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:detector/redact.py"],
                            capture_output=True, text=True, check=True).stdout
    module_path = work / "old_redact.py"
    module_path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_redact", module_path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    function: Redact = module.redact
    return function


def per_call_us(redact: Redact, texts: Sequence[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for text in texts:
            redact(text)
        best = min(best, time.perf_counter() - started)
    return best / len(texts) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old-rev", default="main",
                        help="git revision whose detector/redact.py is the old redaction")
    parser.add_argument("--lines", type=int, default=20_000,
                        help="typical log lines (no secrets) to time")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    out_dir = HERE / "out"
    out_dir.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        old = old_redact(args.old_rev, Path(work))
        clean_file = Path(work) / "clean.log"
        corpus.generate(clean_file, args.lines)
        clean = clean_file.read_text().splitlines()

    started = time.perf_counter()
    new_hs = build(engine="auto")
    compile_s = time.perf_counter() - started
    new_re = build(engine="regex")
    variants: list[tuple[str, Redact]] = [
        (f"old ({args.old_rev}:detector/redact.py)", old),
        (f"new, {new_hs.prefilter.name} prefilter", new_hs.redact),
        (f"new, {new_re.prefilter.name} prefilter", new_re.redact),
    ]

    pairs = [(entry, context) for entry in CORPUS["secrets"] for context in CORPUS["contexts"]]
    secret_texts = [placed(entry, context) for entry, context in pairs]
    providers: dict[str, list[tuple[int, int]]] = defaultdict(list)
    recall: list[tuple[int, int]] = []
    for _, redact in variants[:2]:
        hits = [caught(redact, entry, context) is None for entry, context in pairs]
        recall.append((sum(hits), len(hits)))
        by_provider: dict[str, list[bool]] = defaultdict(list)
        for (entry, _), hit in zip(pairs, hits, strict=True):
            by_provider[entry["provider"]].append(hit)
        for provider, provider_hits in by_provider.items():
            providers[provider].append((sum(provider_hits), len(provider_hits)))

    changed = sum(new_hs.redact(line) != line for line in clean)
    quiet = [line for line in clean if not new_hs.prefilter.candidates(line)]
    rows = []
    for name, redact in variants:
        rows.append((name, per_call_us(redact, clean, args.repeat),
                     per_call_us(redact, quiet, args.repeat),
                     per_call_us(redact, secret_texts, args.repeat)))

    secrets = len(CORPUS["secrets"])
    lines = [
        f"Corpus: tests/secrets/corpus.json, {secrets} fake secrets in {len(providers)} "
        f"provider groups, each in {len(CORPUS['contexts'])} contexts ({len(pairs)} pairs). "
        f"Clean lines: {len(clean):,} from bench/corpus.py (seed 7). Machine: {machine()}.",
        "",
        "| redaction | recall | µs/line, no secret | µs/line, no keyword | "
        "µs/text, with secrets |",
        "|---|---:|---:|---:|---:|",
    ]
    for index, (name, clean_us, quiet_us, secret_us) in enumerate(rows):
        caught_count, total = recall[min(index, 1)]
        lines.append(f"| {name} | {caught_count / total:.1%} ({caught_count}/{total}) | "
                     f"{clean_us:.2f} | {quiet_us:.2f} | {secret_us:.1f} |")
    lines += [
        "",
        f"New rules: {len(new_hs.rules)} ({len(new_hs.skipped)} gitleaks rules not used); "
        f"compiled on first use in {compile_s * 1000:.0f} ms. Clean lines with no keyword: "
        f"{len(quiet):,} of {len(clean):,}; changed by the new redaction: {changed}.",
        "",
        "Recall per provider (old → new):",
        "",
        "| provider | old | new |",
        "|---|---:|---:|",
    ]
    for provider in sorted(providers):
        (old_hit, total), (new_hit, _) = providers[provider]
        lines.append(f"| {provider} | {old_hit}/{total} | {new_hit}/{total} |")
    lines += ["", f"Command: `python bench/redaction.py --old-rev {args.old_rev} "
                  f"--lines {args.lines}`"]
    report = "\n".join(lines) + "\n"
    (out_dir / "redaction.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()

"""Masking secrets in anything the detector writes or sends.

Applied to every sample line in an incident, every outgoing payload and every log
line. Two rule sets find what to mask:

* gitleaks' maintained rules (``rules/gitleaks.toml``, MIT, vendored unmodified):
  provider tokens and keys by their format, with gitleaks' keywords, entropy
  thresholds and allowlists (``_gitleaks``);
* the project's own rules for what logs carry and gitleaks does not look for:
  ``password=…``/``"token": "…"`` pairs, ``Authorization`` and ``Cookie`` headers,
  credentials in URLs, command-line passwords, private keys split across lines, card
  numbers that pass the Luhn check, and token shapes gitleaks misses (``_local``).

A rule runs only on text that holds one of its keywords (``_prefilter``): a log line
without any costs one scan. Each rule reports spans of secret; the union is replaced
by ``***``, so names stay (``password=***``) and overlapping finds mask once.
:func:`redact` takes a whole multi-line event (a traceback, a PEM block, a JSON
record with literal ``\\n``) as well as a line: redact the whole event before any
part of it is captured, and no capture can cut a secret in half.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from detector.redact._gitleaks import Skipped
from detector.redact._gitleaks import load as load_gitleaks
from detector.redact._local import LOCAL_RULES, SECRET_NAME
from detector.redact._prefilter import Prefilter, build_prefilter

__all__ = ["MASK", "RuleSet", "build", "redact", "redact_event", "redact_value", "rule_set"]

MASK = "***"


class Rule(Protocol):
    """What a rule offers: its name, what wakes it, and the spans it masks in a text."""

    @property
    def id(self) -> str: ...
    @property
    def keywords(self) -> tuple[str, ...]: ...
    @property
    def triggers(self) -> tuple[str, ...]: ...
    def spans(self, text: str) -> Iterable[tuple[int, int]]: ...


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The compiled rules and their prefilter."""

    rules: Sequence[Rule]
    prefilter: Prefilter
    skipped: Sequence[Skipped]                 # gitleaks rules not used, with the reason

    def spans(self, text: str) -> list[tuple[int, int]]:
        rules = self.rules
        found: list[tuple[int, int]] = []
        for index in self.prefilter.candidates(text):
            found.extend(rules[index].spans(text))
        return found

    def redact(self, text: str) -> str:
        spans = self.spans(text)
        return _mask(text, spans) if spans else text


def build(*, engine: str = "auto", gitleaks: bool = True, local: bool = True) -> RuleSet:
    """Compile the rules (``engine`` picks the prefilter: ``auto``, ``hyperscan``, ``regex``)."""
    rules: list[Rule] = []
    skipped: list[Skipped] = []
    if local:
        rules.extend(LOCAL_RULES)
    if gitleaks:
        loaded, skipped = load_gitleaks()
        rules.extend(loaded)
    prefilter = build_prefilter([r.keywords for r in rules], [r.triggers for r in rules],
                                engine=engine)
    return RuleSet(rules=rules, prefilter=prefilter, skipped=skipped)


_lock = threading.Lock()
_rules: RuleSet | None = None


def rule_set() -> RuleSet:
    """The process's rules, compiled on first use (a light import for ``detector health``)."""
    global _rules
    if _rules is None:
        with _lock:
            if _rules is None:
                _rules = build()
    return _rules


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    spans.sort()
    out: list[str] = []
    position = 0
    start, end = spans[0]
    for next_start, next_end in spans[1:]:
        if next_start <= end:                      # overlapping or touching: one mask
            end = max(end, next_end)
            continue
        out.append(text[position:start])
        out.append(MASK)
        position, start, end = end, next_start, next_end
    out.append(text[position:start])
    out.append(MASK)
    out.append(text[end:])
    return "".join(out)


# Redaction is a pure function of the text: short texts (summaries, field values, the
# lines of incidents that recur) are remembered, a bounded number at a time.
MEMO_ENTRIES = 4096
MEMO_CHARS = 1024


@functools.lru_cache(maxsize=MEMO_ENTRIES)
def _redact_short(text: str) -> str:
    return rule_set().redact(text)


def redact(text: str) -> str:
    """``text`` (a line or a whole multi-line event) with every secret replaced by ``***``."""
    return _redact_short(text) if len(text) <= MEMO_CHARS else rule_set().redact(text)


def redact_event(text: str) -> str:
    """A whole event's text (every line of a traceback, a multi-line message), redacted.

    The same as :func:`redact`, named for the pipeline: call it on the event before
    any field is captured from it, so a capture never holds half a secret.
    """
    return rule_set().redact(text)


def redact_value(value: Any) -> Any:
    """Redact every string inside a JSON-like value; secret-named keys lose their value."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: (MASK if isinstance(k, str) and SECRET_NAME.fullmatch(k) and v
                    and isinstance(v, str) else redact_value(v))
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


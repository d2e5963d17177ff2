"""gitleaks' rule set (``rules/gitleaks.toml``, vendored unmodified) as redaction rules.

A rule is used as gitleaks uses it: its ``keywords`` decide whether it runs at all
(see ``_prefilter``); its expression finds candidates; the candidate's secret (the
``secretGroup``, else the first non-empty group, else the whole match) must have
more Shannon entropy than the rule's ``entropy`` (and, for ``generic-*`` rules, a
digit), and must not be allowed by the global or the rule's allowlists (regexes on
the secret, the match or the line; stopwords). What gets masked is the secret the
expression delimits: the last group the match ends with (the value after a key, not
the key name), or the whole match when the expression's groups do not delimit it.

Rules scoped to file paths (``path = …``: Terraform, NuGet, Kubernetes manifests,
PHP, PKCS#12 files) describe files, not log lines, and are not used; expressions
that cannot be translated to Python are not used either. Both are listed by
:func:`load` so that a test names them.

One change for speed: most of gitleaks' key/value rules begin with a lazy
``[\\w.-]{0,50}?`` that only widens the reported match to the left of the key name.
It decides no secret, but makes a search try up to fifty starts at each position, so
it is dropped from the expression; the match is widened back before a ``match``
allowlist looks at it.
"""

from __future__ import annotations

import math
import re
import time
import tomllib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import regex

from detector.redact._translate import Untranslatable, guarded, runs_away, translate

__all__ = ["GITLEAKS_TOML", "RUNAWAY_BUDGET", "SUPERSEDED", "GitleaksRule", "Skipped", "load",
           "shannon_entropy"]

GITLEAKS_TOML = Path(__file__).with_name("rules") / "gitleaks.toml"

_LAZY_PREFIX = r"[\w.-]{0,50}?"
_WIDEN = re.compile(r"[\w.-]{1,50}\Z", re.ASCII)
# What may follow the masked group inside a match: nothing, or one delimiter
# (gitleaks' ``(?:[\x60'"\s;]|\\[nr]|$)`` and the like).
_TAIL = re.compile(r"(?:[^\w]|\\[nr])?", re.ASCII)
_DELIMITERS = frozenset(" \t\r\n\"'`;,)]}<>")
# gitleaks ends most tokens with ``(?:[\x60'"\s;]|\\[nr]|$)``: in source code a token is
# followed by a quote, a space or a semicolon. In a log it is as often followed by the
# punctuation around it (``(client TOKEN)``, ``[TOKEN]``, ``token=TOKEN&next=…``,
# ``TOKEN, retrying``, ``<TOKEN>``); a token cut off by one of those must still be found.
_SOURCE_TAIL = """(?:[\\x60'"\\s;]|\\\\[nr]|$)"""
_LOG_TAIL = """(?:[\\x60'"\\s;,)\\]}<>|&]|\\\\[nr]|$)"""


# Seconds a rule that can run away (see ``_translate.runs_away``) may take on one text;
# past that, everything from the first place it could match is masked (fail closed).
RUNAWAY_BUDGET = 0.1

Match = re.Match[str] | regex.Match[str]


@dataclass(frozen=True, slots=True)
class Skipped:
    """A gitleaks rule that redaction does not use, and why."""

    id: str
    reason: str


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text`` (gitleaks' ``shannonEntropy``)."""
    if not text:
        return 0.0
    size = len(text)
    return -sum(count / size * math.log2(count / size) for count in Counter(text).values())


@dataclass(frozen=True, slots=True)
class _Allowlist:
    target: str                                   # "secret", "match" or "line"
    regexes: tuple[re.Pattern[str], ...] = ()
    stopwords: tuple[str, ...] = ()
    scoped: bool = False                          # has paths or commits: never true on a log line
    all_of: bool = False                          # condition = "AND"

    def allows(self, secret: str, match: str, line: str) -> bool:
        checks: list[bool] = []
        if self.regexes:
            target = match if self.target == "match" else line if self.target == "line" else secret
            checks.append(any(r.search(target) for r in self.regexes))
        if self.stopwords:
            lowered = secret.lower()
            checks.append(any(word in lowered for word in self.stopwords))
        if self.scoped:
            checks.append(False)
        if not checks:
            return False
        return all(checks) if self.all_of else any(checks)


def _allowlist(spec: Mapping[str, Any]) -> _Allowlist:
    return _Allowlist(
        target=str(spec.get("regexTarget", "secret")),
        regexes=tuple(re.compile(translate(r), re.ASCII) for r in spec.get("regexes", ())),
        stopwords=tuple(str(w).lower() for w in spec.get("stopwords", ())),
        scoped=bool(spec.get("paths") or spec.get("commits")),
        all_of=str(spec.get("condition", "OR")).upper() == "AND")


@dataclass(frozen=True, slots=True)
class GitleaksRule:
    """One gitleaks rule, compiled; :meth:`spans` gives what to mask in a text."""

    id: str
    keywords: tuple[str, ...]
    pattern: re.Pattern[str]
    entropy: float = 0.0
    secret_group: int = 0
    widen: int = 0                                # characters of stripped lazy prefix
    whole_match: bool = False                     # the groups do not delimit the secret
    allowlists: tuple[_Allowlist, ...] = ()      # the global ones first
    triggers: tuple[str, ...] = ()
    # for expressions that can run away: the same in the ``regex`` module, run with a budget
    bounded: regex.Pattern[str] | None = None

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        try:
            for match in self._matches(text):
                span = self._span(text, match)
                if span is not None:
                    yield span
        except TimeoutError:
            lowered = text.lower()
            starts = [i for i in (lowered.find(k) for k in self.keywords) if i >= 0]
            yield min(starts, default=0), len(text)

    def _matches(self, text: str) -> Iterator[Match]:
        if self.bounded is None:
            yield from self.pattern.finditer(text)
            return
        deadline = time.monotonic() + RUNAWAY_BUDGET
        position = 0
        while position <= len(text):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            match = self.bounded.search(text, position, timeout=remaining)
            if match is None:
                return
            yield match
            position = match.end() + (match.end() == match.start())

    def _span(self, text: str, match: Match) -> tuple[int, int] | None:
        """What to mask for this candidate, or ``None`` if gitleaks would not report it."""
        secret = self._secret(match)
        if not secret:
            return None
        if self.entropy and (shannon_entropy(secret) <= self.entropy or (
                self.id.startswith("generic") and not any(c.isdigit() for c in secret))):
            return None
        if self._allowed(text, match, secret):
            return None
        return self._mask(match)

    def _secret(self, match: Match) -> str:
        groups = match.groups()
        if not groups:
            return match.group(0)
        if self.secret_group:
            return match.group(self.secret_group) or ""
        return next((g for g in groups if g), "")

    def _allowed(self, text: str, match: Match, secret: str) -> bool:
        if not self.allowlists:
            return False
        start, end = match.span()
        if self.widen:
            widened = _WIDEN.search(text, max(0, start - self.widen), start)
            if widened is not None:
                start = widened.start()
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", end)
        line = text[line_start:line_end if line_end >= 0 else len(text)]
        return any(a.allows(secret, text[start:end], line) for a in self.allowlists)

    def _mask(self, match: Match) -> tuple[int, int]:
        if self.whole_match or not match.groups():
            return _trimmed(match)
        chosen = self.secret_group or max(
            (i for i in range(1, len(match.groups()) + 1) if match.group(i)),
            key=lambda i: (match.end(i), match.end(i) - match.start(i)))
        start, end = match.span(chosen)
        if _TAIL.fullmatch(match.string, end, match.end()) is None:
            return _trimmed(match)                 # more secret after the group
        return start, end


def _trimmed(match: Match) -> tuple[int, int]:
    """The match without the delimiter some expressions end with (``(?:[^\\w]|\\z)``)."""
    start, end = match.span()
    text = match.string
    while end > start and text[end - 1] in _DELIMITERS:
        end -= 1
    return start, end


def _strip_lazy_prefix(source: str) -> tuple[str, int]:
    """``source`` without gitleaks' leading ``[\\w.-]{0,50}?`` prefixes; their width."""
    widen = 0
    for head in ("(?i)", "", "(?i:"):
        if source.startswith(head + _LAZY_PREFIX):
            source = head + source[len(head) + len(_LAZY_PREFIX):]
            widen += 50
    return source, widen


# Rules whose groups mark parts of a token rather than the token (named groups
# that only recognise a JWT header inside the base64).
_WHOLE_MATCH = frozenset({"jwt-base64"})
# Rules a project rule does better: gitleaks' private-key masks the armour lines with
# the key and misses a key cut short; ``_local``'s private-key-block keeps
# ``-----BEGIN … PRIVATE KEY-----`` readable and masks a truncated body too.
SUPERSEDED = {"private-key": "superseded by the project's private-key-block rule"}


def load(path: Path = GITLEAKS_TOML) -> tuple[list[GitleaksRule], list[Skipped]]:
    """The usable rules of a gitleaks config, and the ones left out with the reason."""
    with path.open("rb") as handle:
        config = tomllib.load(handle)
    global_allowlists = tuple(_allowlist(spec) for key in ("allowlist", "allowlists")
                              for spec in _specs(config.get(key)))
    rules: list[GitleaksRule] = []
    skipped: list[Skipped] = []
    for spec in config.get("rules", ()):
        rule_id = str(spec["id"])
        source = spec.get("regex")
        if not source:
            skipped.append(Skipped(rule_id, "no expression (matches file paths only)"))
            continue
        if rule_id in SUPERSEDED:
            skipped.append(Skipped(rule_id, SUPERSEDED[rule_id]))
            continue
        if spec.get("path"):
            skipped.append(Skipped(rule_id, f"scoped to files {spec['path']!r}"))
            continue
        stripped, widen = _strip_lazy_prefix(str(source).replace(_SOURCE_TAIL, _LOG_TAIL))
        try:
            python = translate(stripped)
            compiled = re.compile(guarded(python, re.ASCII), re.ASCII)
            bounded = regex.compile(python, regex.ASCII) if runs_away(python, re.ASCII) else None
            allowlists = global_allowlists + tuple(
                _allowlist(a) for key in ("allowlist", "allowlists") for a in _specs(spec.get(key)))
        except (Untranslatable, re.error, regex.error) as exc:
            skipped.append(Skipped(rule_id, f"cannot translate: {exc}"))
            continue
        rules.append(GitleaksRule(
            id=rule_id, keywords=tuple(sorted({str(k).lower() for k in spec.get("keywords", ())})),
            pattern=compiled, bounded=bounded, entropy=float(spec.get("entropy", 0.0)),
            secret_group=int(spec.get("secretGroup", 0)), widen=widen,
            whole_match=rule_id in _WHOLE_MATCH, allowlists=allowlists))
    return rules, skipped


def _specs(value: Any) -> Sequence[Mapping[str, Any]]:
    if value is None:
        return ()
    return [value] if isinstance(value, Mapping) else list(value)

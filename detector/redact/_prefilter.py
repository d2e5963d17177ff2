"""Which redaction rules can match a text: one pass over it for every keyword.

Each rule names lower-case keywords (gitleaks' ``keywords``; ours for the project's
rules) and, rarely, trigger expressions for tokens with no fixed literal. A rule runs
only on a text that holds one of them, so a log line without any costs one scan.

With hyperscan (the matching engine's multi-pattern library) all keywords are one
case-insensitive literal database and triggers join it as expressions. Without it,
the keywords are one expression factored into a trie, searched on the lower-cased
text (overlapping occurrences included), and each trigger is searched on its own.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any, Protocol, cast

__all__ = ["Prefilter", "build_prefilter"]


class Prefilter(Protocol):
    name: str

    def candidates(self, text: str) -> list[int]:
        """Indices (ascending) of the rules that ``text`` may wake."""


def _index(rules_keywords: Sequence[Sequence[str]]) -> tuple[list[str], list[frozenset[int]]]:
    """Distinct keywords, and for each the rules it wakes, substrings' rules included.

    The substring closure lets a scan that reports only the longest keyword at a
    position (``sk_live`` for ``sk``) still wake the rules of the shorter one.
    """
    owners: dict[str, set[int]] = {}
    for index, keywords in enumerate(rules_keywords):
        for keyword in keywords:
            owners.setdefault(keyword, set()).add(index)
    words = sorted(owners)
    woken = [frozenset().union(*(owners[w] for w in words if w in word)) for word in words]
    return words, woken


class RegexPrefilter:
    name = "regex"

    def __init__(self, keywords: Sequence[Sequence[str]],
                 triggers: Sequence[Sequence[str]]) -> None:
        words, woken = _index(keywords)
        self._woken = dict(zip(words, woken, strict=True))
        # Keywords a longer one can start inside of and run past ("sk" then "key" in
        # "skey"): after one of these, every position inside is tried too.
        self._overlapped = {w for w in words if any(
            other.startswith(w[i:]) and len(other) > len(w) - i
            for other in words for i in range(1, len(w)))}
        self._keywords = re.compile(_trie(words)) if words else None
        self._always = frozenset(i for i, k in enumerate(keywords) if not k and not triggers[i])
        self._triggers = [(re.compile(t), i) for i, ts in enumerate(triggers) for t in ts]

    def candidates(self, text: str) -> list[int]:
        found: set[int] = set(self._always)
        if self._keywords is not None:
            lowered = text.lower()
            matcher = self._keywords
            for match in matcher.finditer(lowered):
                word = match.group()
                found |= self._woken[word]
                if word in self._overlapped:
                    end = match.end()
                    for position in range(match.start() + 1, end):
                        inner = matcher.match(lowered, position)
                        if inner is not None and inner.end() > end:
                            found |= self._woken[inner.group()]
        for trigger, index in self._triggers:
            if index not in found and trigger.search(text) is not None:
                found.add(index)
        return sorted(found)


class HyperscanPrefilter:
    name = "hyperscan"

    def __init__(self, keywords: Sequence[Sequence[str]],
                 triggers: Sequence[Sequence[str]]) -> None:
        import hyperscan

        words, woken = _index(keywords)
        # Keywords that wake the same rules share one id: one report for all of them.
        sets: dict[frozenset[int], int] = {}
        expressions: list[bytes] = []
        ids: list[int] = []
        flags: list[int] = []
        for word, rules in zip(words, woken, strict=True):
            expressions.append(re.escape(word).encode())
            ids.append(sets.setdefault(rules, len(sets)))
            flags.append(hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH)
        for index, expressions_of_rule in enumerate(triggers):
            for trigger in expressions_of_rule:
                expressions.append(trigger.encode())
                ids.append(sets.setdefault(frozenset({index}), len(sets)))
                flags.append(hyperscan.HS_FLAG_SINGLEMATCH)
        always = frozenset(i for i, k in enumerate(keywords) if not k and not triggers[i])
        self._woken = [sorted(rules | always) for rules in sets]
        self._always = sorted(always)
        self._database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        self._database.compile(expressions=expressions, ids=ids, elements=len(expressions),
                               flags=flags)
        self._hs = hyperscan
        self._local = threading.local()            # a scratch space per thread

    def candidates(self, text: str) -> list[int]:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = self._hs.Scratch(self._database)
        ids: list[int] = []
        self._database.scan(text.encode("utf-8", "surrogatepass"),
                            match_event_handler=_collect, context=ids, scratch=scratch)
        if not ids:
            return list(self._always)
        woken = self._woken
        if len(ids) == 1:
            return list(woken[ids[0]])
        return sorted({rule for ident in ids for rule in woken[ident]})


def _collect(ident: int, _start: int, _end: int, _flags: int, ids: object) -> None:
    cast("list[int]", ids).append(ident)


def _trie(words: Sequence[str]) -> str:
    """One expression for ``words``, factored on common prefixes (longest match first)."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        ends = "" in node
        branches = [re.escape(char) + emit(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if ends:
            body = f"(?:{body})?"
        return body

    return emit(root)


def build_prefilter(keywords: Sequence[Sequence[str]], triggers: Sequence[Sequence[str]],
                    *, engine: str = "auto") -> Prefilter:
    """``engine``: ``auto`` (hyperscan if it loads), ``hyperscan`` or ``regex``."""
    if engine in ("auto", "hyperscan"):
        try:
            return HyperscanPrefilter(keywords, triggers)
        except ImportError:
            if engine == "hyperscan":
                raise
    return RegexPrefilter(keywords, triggers)

"""The matching engine: a multi-pattern prefilter over raw bytes, then ``regex``.

Scanning is two-phase. The prefilter (hyperscan, or the ``regex`` module when
hyperscan cannot load) runs over a whole buffer of lines at once and reports,
for each line that any pattern could match, the line's end offset and the ids of
those patterns. Python touches those lines only. The authoritative match, with
field extraction, is ``regex`` on the decoded event, tried in priority order;
both prefilters use the same translated expressions (supersets of the real
patterns, see :mod:`detector.match.translate`), so both engines produce exactly
the same matches.

A pattern that runs away on some input (catastrophic backtracking) is stopped by
``regex``'s timeout, counted, and skipped for that event; the pipeline goes on.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import regex

from detector.decode.levels import LEVEL_PREFILTERS
from detector.decode.multiline import analyse_traceback
from detector.match.knowledge import BARE, EXACT, GENERIC, HEURISTIC, KnowledgeBase
from detector.match.packs import TRACEBACK_FIELDS, Pattern
from detector.match.translate import required_factors
from detector.model import INFO, Event

__all__ = ["ENGINES", "Engine", "Match", "build_engine"]

ENGINES = ("auto", "hyperscan", "regex")
_LINE_TAIL = rb"[^\n]*$"
# Lines that shape events whatever patterns are enabled (a traceback header).
STRUCTURAL_PREFILTERS = (rb"Traceback \(most recent call last\)",)

Hits = list[tuple[int, frozenset[int]]]


@dataclass(slots=True)
class Match:
    """A confirmed signature: which pattern, the fields it captured, the line it hit."""

    pattern: Pattern
    fields: dict[str, str]
    line: str                      # the matched line, from where the match starts
    reason: str = ""               # the evidence that decided the class, in words


# Priorities of knowledge-base evidence, among the packs' (default 100; the generic
# traceback pattern 10): a known exception type below a library's own wording and its
# codes, a name that only says what it is about below that, an exception of no known
# kind below the traceback pattern, whose summary names the frame; a known bug-shaped type
# (KeyError) above it and above a framework's "500" line, which it explains.
KNOWLEDGE_PRIORITY = {EXACT: 80, BARE: 78, HEURISTIC: 60}
UNKNOWN_PRIORITY = 8
BUG_PRIORITY = 30          # a known bug-shaped type (KeyError, NullPointerException)
# An info or debug line is trouble only by a wording that settles it (this priority and
# above): a code or a generic phrase on such a line reports a retry that worked, a
# setting, a count ("HTTP 504 retried successfully", "timeout=30").
WORDING = 95


class Prefilter(Protocol):
    name: str

    def scan(self, buf: bytes) -> Hits: ...


def _group(pairs: list[tuple[int, int]]) -> Hits:
    """(line end, id) pairs → one (line end, ids) entry per line, in order."""
    if not pairs:
        return []
    pairs.sort()
    hits: Hits = []
    current_end = pairs[0][0]
    ids: list[int] = []
    for end, ident in pairs:
        if end != current_end:
            hits.append((current_end, frozenset(ids)))
            current_end = end
            ids = []
        ids.append(ident)
    hits.append((current_end, frozenset(ids)))
    return hits


class HyperscanPrefilter:
    """All expressions in one hyperscan block-mode database."""

    name = "hyperscan"

    def __init__(self, expressions: Sequence[bytes], cache_dir: Path | None = None) -> None:
        import hyperscan

        self._hs = hyperscan
        self.database = self._load(expressions, cache_dir)
        self.scratch = hyperscan.Scratch(self.database)

    def _load(self, expressions: Sequence[bytes], cache_dir: Path | None) -> Any:
        hs = self._hs
        digest = hashlib.sha256(b"\0".join(expressions) + b"v1").hexdigest()[:24]
        cached = cache_dir / f"hs-{digest}.db" if cache_dir is not None else None
        if cached is not None and cached.is_file():
            try:
                return hs.loadb(cached.read_bytes(), hs.HS_MODE_BLOCK)
            except Exception:
                cached.unlink(missing_ok=True)
        database = hs.Database(mode=hs.HS_MODE_BLOCK)
        flags = hs.HS_FLAG_MULTILINE | hs.HS_FLAG_PREFILTER | hs.HS_FLAG_ALLOWEMPTY
        database.compile(expressions=list(expressions), ids=list(range(len(expressions))),
                         elements=len(expressions), flags=flags)
        if cached is not None:
            try:
                cached.parent.mkdir(parents=True, exist_ok=True)
                temporary = cached.with_suffix(f".{os.getpid()}.tmp")
                temporary.write_bytes(hs.dumpb(database))
                temporary.replace(cached)
            except OSError:
                pass
        return database

    def scan(self, buf: bytes) -> Hits:
        pairs: list[tuple[int, int]] = []
        append = pairs.append

        def on_match(ident: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            append((end, ident))

        self.database.scan(buf, match_event_handler=on_match, scratch=self.scratch)
        return _group(pairs)


class RegexPrefilter:
    """The same expressions in the ``regex`` module: no compiled automaton needed.

    Each expression's required literal factors (``translate.required_factors``)
    are looked for with ``bytes.find`` in the lower-cased buffer, and the
    expression runs only on the lines that hold one, as hyperscan does inside.
    Expressions without such a factor scan the whole buffer.
    """

    name = "regex"

    def __init__(self, expressions: Sequence[bytes], timeout: float = 0.1) -> None:
        self.compiled = [regex.compile(e, regex.MULTILINE | regex.VERSION0) for e in expressions]
        self.factors = [required_factors(e.decode("ascii")) for e in expressions]
        self.timeout = timeout          # per line and expression; past it, the line is a
        self.timeouts = 0               # candidate (the prefilter stays a superset)

    def scan(self, buf: bytes) -> Hits:
        pairs: list[tuple[int, int]] = []
        lowered: bytes | None = None
        for ident, compiled in enumerate(self.compiled):
            factors = self.factors[ident]
            if factors is None:
                self._scan_lines(compiled, ident, buf, pairs)
                continue
            if lowered is None:
                lowered = buf.lower()
            checked: set[int] = set()
            for factor in factors:
                position = lowered.find(factor)
                while position >= 0:
                    start = buf.rfind(b"\n", 0, position) + 1
                    end = buf.find(b"\n", position)
                    if end < 0:
                        end = len(buf)
                    if start not in checked:
                        checked.add(start)
                        self._search_line(compiled, ident, buf, start, end, pairs)
                    position = lowered.find(factor, end)
        return _group(pairs)

    def _search_line(self, compiled: regex.Pattern[bytes], ident: int, buf: bytes, start: int,
                     end: int, pairs: list[tuple[int, int]]) -> None:
        try:
            found = compiled.search(buf, start, end, timeout=self.timeout)
        except TimeoutError:
            self.timeouts += 1
            pairs.append((end, ident))
            return
        if found is not None:
            pairs.append((found.end(), ident))

    def _scan_lines(self, compiled: regex.Pattern[bytes], ident: int, buf: bytes,
                    pairs: list[tuple[int, int]]) -> None:
        """An expression without a required literal: the whole buffer at once, and line by
        line (each under the timeout) if that runs away."""
        try:
            pairs.extend((m.end(), ident) for m in compiled.finditer(
                buf, timeout=self.timeout * 10))
            return
        except TimeoutError:
            pass
        start = 0
        while start < len(buf):
            end = buf.find(b"\n", start)
            if end < 0:
                end = len(buf)
            self._search_line(compiled, ident, buf, start, end, pairs)
            start = end + 1


@dataclass
class Engine:
    patterns: list[Pattern]          # in priority order: index = prefilter id
    prefilter: Prefilter
    regex_timeout: float = 0.1
    timeouts: int = 0
    knowledge: KnowledgeBase | None = None
    by_class: dict[str, Pattern] | None = None     # what knowledge evidence reports as

    def __post_init__(self) -> None:
        self._count = len(self.patterns)
        # the exception-name prefilter follows the patterns and the level prefilters
        self.exception_id = self._count + len(LEVEL_PREFILTERS) + len(STRUCTURAL_PREFILTERS)

    @property
    def name(self) -> str:
        return self.prefilter.name

    def scan(self, buf: bytes) -> Hits:
        return self.prefilter.scan(buf)

    def confirm(self, event: Event) -> Match | None:
        """The pattern that explains ``event``, with its fields.

        Highest priority wins; among equal priorities, the match on the latest line
        of the event, because in a traceback (chained ones too) the exception that
        propagated is the last one shown; on one line, the first pattern in order.
        """
        ids = [i for i in event.candidates if i < self._count]
        text = event.text
        # (priority, line start, pattern, fields, line, reason)
        best: tuple[int, int, Pattern, dict[str, str], str, str] | None = None
        if self.exception_id in event.candidates:
            best = self._knowledge(event)
        elif not ids:
            return None
        ids.sort()
        quiet = 0 < event.level <= INFO
        for ident in ids:
            pattern = self.patterns[ident]
            if best is not None and pattern.priority < best[0]:
                break
            if event.level < pattern.min_level or (quiet and pattern.priority < WORDING
                                                    and not pattern.any_level):
                continue
            found = self._search(pattern, text)
            if found is None:
                continue
            line_start = text.rfind("\n", 0, found[0]) + 1
            if best is None or pattern.priority > best[0] or line_start > best[1]:
                best = (pattern.priority, line_start, pattern, found[1], found[2],
                        f"pattern {pattern.id} ({pattern.title})")
        if best is None:
            return None
        _, _, pattern, fields, line, reason = best
        if pattern.context is not None and event.lines > 1:
            self._add_context(pattern, text, fields)
        if event.lines > 1 and any(f in TRACEBACK_FIELDS for f in pattern.fingerprint):
            for key, value in analyse_traceback(text).items():
                fields.setdefault(key, value)
        return Match(pattern=pattern, fields=fields, line=line, reason=reason)

    def _knowledge(self, event: Event
                   ) -> tuple[int, int, Pattern, dict[str, str], str, str] | None:
        """The strongest exception type the event names (the latest line among equals), as
        the class's pattern. Info and debug lines that merely mention one are not trouble."""
        knowledge, by_class = self.knowledge, self.by_class
        if knowledge is None or by_class is None or 0 < event.level <= INFO:
            return None
        text = event.text
        best: tuple[int, int, Pattern, dict[str, str], str, str] | None = None
        for seen in knowledge.exceptions(text):
            cls = "unhandled_exception" if seen.cls == GENERIC else seen.cls
            pattern = by_class.get(cls)
            if pattern is None:                 # the class is disabled
                continue
            priority = _priority(cls, seen.how, seen.cls)
            line_start = text.rfind("\n", 0, seen.position) + 1
            if best is None or priority > best[0] or (priority == best[0]
                                                      and line_start > best[1]):
                line_end = text.find("\n", seen.position)
                line = text[seen.position:line_end if line_end >= 0 else len(text)]
                best = (priority, line_start, pattern, {"exception": seen.name}, line,
                        seen.reason())
        return best

    def evidence(self, event: Event) -> list[tuple[int, str, str]]:
        """Everything in ``event`` that speaks for a class, strongest first, as (priority,
        class, reason): what ``detector patterns test`` shows. :meth:`confirm` decides the
        same way, but stops at the first priority that cannot be beaten."""
        found: list[tuple[int, str, str]] = []
        knowledge, by_class = self.knowledge, self.by_class
        if knowledge is not None and by_class is not None and not 0 < event.level <= INFO:
            for seen in knowledge.exceptions(event.text):
                cls = "unhandled_exception" if seen.cls == GENERIC else seen.cls
                if cls in by_class:
                    priority = _priority(cls, seen.how, seen.cls)
                    found.append((priority, cls, seen.reason()))
        quiet = 0 < event.level <= INFO
        for ident in sorted(i for i in event.candidates if i < self._count):
            pattern = self.patterns[ident]
            if quiet and pattern.priority < WORDING and not pattern.any_level:
                continue
            if event.level >= pattern.min_level and self._search(pattern, event.text):
                found.append((pattern.priority, pattern.cls,
                              f"pattern {pattern.id} ({pattern.title})"))
        return sorted(found, key=lambda item: -item[0])

    def events_of(self, text: str) -> list[Event]:
        """``text`` as the pipeline would cut it into events (tests, the CLI)."""
        from detector.decode.events import Origin, Stream, assemble

        buf = text.encode("utf-8") + b"\n"
        stream = Stream(origin=Origin(source="example", service="example"))
        events, _ = assemble(buf, self.scan(buf), stream, final=True, arrival=0.0)
        return events

    def _search(self, pattern: Pattern, text: str) -> tuple[int, dict[str, str], str] | None:
        try:
            match = pattern.regex.search(text, timeout=self.regex_timeout)
            if match is not None and "\n" in match.group(0):
                # Patterns match within one line; retry line by line.
                match = None
                offset = 0
                for line in text.split("\n"):
                    found = pattern.regex.search(line, timeout=self.regex_timeout)
                    if found is not None:
                        match = found
                        break
                    offset += len(line) + 1
                if match is None:
                    return None
                start = offset + match.start()
            elif match is not None:
                # The last occurrence is what counts when several lines match.
                last = match
                if event_may_repeat(text, match):
                    for later in pattern.regex.finditer(text, pos=match.end(),
                                                        timeout=self.regex_timeout):
                        if "\n" not in later.group(0):
                            last = later
                match = last
                start = match.start()
            else:
                return None
        except TimeoutError:
            self.timeouts += 1
            return None
        fields = {k: v for k, v in match.groupdict().items() if v is not None}
        string_ = match.string
        line_end = string_.find("\n", match.end())
        # The line from where the signature starts: timestamps and levels before it
        # are already in the incident's fields.
        line = string_[match.start():line_end if line_end >= 0 else len(string_)]
        return start, fields, line

    def _add_context(self, pattern: Pattern, text: str, fields: dict[str, str]) -> None:
        assert pattern.context is not None
        try:
            for line in text.split("\n"):
                match = pattern.context.search(line, timeout=self.regex_timeout)
                if match is not None:
                    for key, value in match.groupdict().items():
                        if value is not None:
                            fields.setdefault(key, value)
                    return
        except TimeoutError:
            self.timeouts += 1

    def classify_text(self, text: str) -> Match | None:
        """Classify a free-standing example the way the pipeline would (tests, CLI)."""
        for event in self.events_of(text):
            match = self.confirm(event)
            if match is not None:
                return match
        return None


def _priority(cls: str, how: str, known: str) -> int:
    """The priority of an exception type as evidence (see the bands in docs/patterns.md)."""
    if cls != "unhandled_exception":
        return KNOWLEDGE_PRIORITY[how]
    return BUG_PRIORITY if known != GENERIC and how in (EXACT, BARE) else UNKNOWN_PRIORITY


def event_may_repeat(text: str, match: regex.Match[str]) -> bool:
    """Is there another line after the matched one (multi-line events only)?"""
    return text.find("\n", match.end()) >= 0


def expressions_for(patterns: Sequence[Pattern],
                    knowledge: KnowledgeBase | None = None) -> list[bytes]:
    translated = [p.prefilter.encode("ascii") + _LINE_TAIL for p in patterns]
    extra = [e + _LINE_TAIL for e in (*LEVEL_PREFILTERS, *STRUCTURAL_PREFILTERS)]
    if knowledge is not None:
        extra.append(knowledge.prefilter() + _LINE_TAIL)
    return translated + extra


def order_patterns(patterns: Sequence[Pattern]) -> list[Pattern]:
    """Priority order: higher priority first, then the order packs were loaded in."""
    return [p for _, _, p in sorted((-p.priority, i, p) for i, p in enumerate(patterns))]


def build_engine(patterns: Sequence[Pattern], *, engine: str = "auto",
                 regex_timeout: float = 0.1, cache_dir: Path | None = None,
                 knowledge: KnowledgeBase | None = None,
                 by_class: dict[str, Pattern] | None = None) -> Engine:
    ordered = order_patterns(patterns)
    expressions = expressions_for(ordered, knowledge)
    chosen: Prefilter
    if engine in ("auto", "hyperscan"):
        try:
            chosen = HyperscanPrefilter(expressions, cache_dir)
        except ImportError:
            if engine == "hyperscan":
                raise
            chosen = RegexPrefilter(expressions, regex_timeout)
    else:
        chosen = RegexPrefilter(expressions, regex_timeout)
    return Engine(patterns=ordered, prefilter=chosen, regex_timeout=regex_timeout,
                  knowledge=knowledge, by_class=by_class)

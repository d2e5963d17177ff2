"""Which lines continue the event before them, and what a traceback shows.

Continuations, by what real Python programs print:

* a Python traceback (``Traceback (most recent call last):``, indented frames,
  the exception line, chained ones joined by "During handling of the above
  exception…" / "The above exception was the direct cause…", exception groups);
* PostgreSQL's ``DETAIL:``/``HINT:``/``CONTEXT:``/``STATEMENT:`` lines, bare (as
  psycopg/asyncpg put them in exception messages) or after a server log prefix;
* SQLAlchemy's ``[SQL: …]``, ``[parameters: …]``, ``(Background on this error…)``;
* asyncio's and aiohttp's second lines: ``task: <Task pending…>`` after
  ``Task was destroyed but it is pending!``, ``client_session: <…>`` after
  ``Unclosed client session``, ``future:``/``connector:``/``connections:``…;
* any indented line.
"""

from __future__ import annotations

import re

__all__ = ["Continuation", "analyse_traceback"]

_TRACEBACK = ("Traceback (most recent call last):", "Exception Group Traceback (most recent")
_CONNECTORS = ("During handling of the above exception", "The above exception was the direct")
_PREFIXES = (
    "DETAIL:", "HINT:", "CONTEXT:", "STATEMENT:", "QUERY:", "LOCATION:", "WHERE:",
    "[SQL:", "[parameters:", "(Background on this error at:",
    "task: <", "future: <", "client_session: <", "connector: <", "connections: [",
    "transport: <", "protocol: <", "handle: <", "source_traceback:", "exception: ",
    "Object created at (most recent call last):",
    "Caused by: ", "Suppressed: ", "Wrapped by: ",           # Java, Reactor
)
# Go: a panic's signal line, and the goroutine dumps after it (until a blank line)
_GO_PANIC = ("panic: ", "fatal error: ")
_GOROUTINE = re.compile(r"^goroutine \d+ \[")
# PostgreSQL server log continuations after a log_line_prefix: "... [123] DETAIL:  ..."
_PG_PREFIXED = re.compile(r"^\S.{0,120}?\s(?:DETAIL|HINT|CONTEXT|STATEMENT|QUERY|LOCATION):  ")
_EXCEPTION_LINE = re.compile(
    r"^(?P<type>[A-Za-z_][\w.]*)(?::(?:\s|$)|$)")
_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line \d+, in (?P<func>\S+)')
_LIBRARY = re.compile(r"(?:site-packages|dist-packages|/lib/python\d|<frozen |\\lib\\|"
                      r"/usr/lib/|/asyncio/|/concurrent/|/threading\.py|/runpy\.py|^<)")


class Continuation:
    """A small state machine fed the lines after an event's first line."""

    __slots__ = ("in_frames", "in_goroutine", "in_traceback", "panic", "saw_traceback")

    def __init__(self, first: str) -> None:
        self.in_traceback = first.startswith(_TRACEBACK) or (
            "Traceback (most recent call last):" in first)
        self.in_frames = self.in_traceback
        self.saw_traceback = self.in_traceback
        self.panic = first.startswith(_GO_PANIC)
        self.in_goroutine = False

    def accepts(self, line: str, following: str | None) -> bool:
        """Does ``line`` continue the event? ``following`` is the next line, if known."""
        if not line.strip():
            # A blank line continues only inside a chain of tracebacks, or before a Go
            # panic's goroutine dump.
            self.in_goroutine = False
            if following is None:
                return False
            if self.panic and _GOROUTINE.match(following) is not None:
                return True
            return following.startswith((*_CONNECTORS, *_TRACEBACK))
        if self.panic:
            if _GOROUTINE.match(line) is not None:
                self.in_goroutine = True
                return True
            if self.in_goroutine or line.startswith("[signal "):
                return True
        first = line[0]
        if first in " \t":
            if self.in_traceback:
                self.in_frames = True
            return True
        if line.startswith(_TRACEBACK):
            self.in_traceback = self.in_frames = self.saw_traceback = True
            return True
        if line.startswith(_CONNECTORS):
            self.in_traceback = self.in_frames = False
            return True
        if self.in_frames:
            # The first unindented line after the frames is the exception line.
            self.in_frames = self.in_traceback = False
            return _EXCEPTION_LINE.match(line) is not None
        if line.startswith(_PREFIXES):
            return True
        if first == "{":
            return False
        if line[:4] == "LINE" and re.match(r"LINE \d+:", line):
            return True
        return _PG_PREFIXED.match(line) is not None


def starts_traceback(line: str) -> bool:
    return line.startswith(_TRACEBACK)


def is_intro(line: str) -> bool:
    """Lines that only make sense as the second line of an event (never its start)."""
    return (line[:1] in (" ", "\t") or line.startswith(_CONNECTORS)
            or line.startswith(_PREFIXES) or _PG_PREFIXED.match(line) is not None)


def analyse_traceback(text: str) -> dict[str, str]:
    """``exception``: the type of the last exception shown; ``frame``: the deepest
    application frame (``path:function``; the deepest frame when all are library)."""
    exception = None
    deepest_app = None
    deepest = None
    in_frames = False
    for line in text.split("\n"):
        if line.startswith(_TRACEBACK) or "Traceback (most recent call last):" in line:
            in_frames = True
            continue
        frame = _FRAME.match(line)
        if frame is not None:
            location = f"{frame.group('path')}:{frame.group('func')}"
            deepest = location
            if _LIBRARY.search(frame.group("path")) is None:
                deepest_app = location
            continue
        if in_frames and line and line[0] not in " \t":
            in_frames = False
            match = _EXCEPTION_LINE.match(line)
            if match is not None:
                exception = match.group("type")
    fields = {}
    if exception is not None:
        fields["exception"] = exception
    frame_text = deepest_app or deepest
    if frame_text is not None:
        fields["frame"] = frame_text
    return fields

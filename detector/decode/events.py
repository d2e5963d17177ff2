"""From candidate lines in a raw buffer to events.

The matching engine says which lines of a buffer might matter (a signature's
prefilter or an error-level word hit them). Only those lines, and their
neighbours, are ever decoded: each candidate is walked back to the start of its
record (a traceback belongs to the log line before it) and forward over its
continuation lines, the candidate pattern ids of every line inside are united,
and one :class:`~detector.model.Event` comes out. Lines already inside an event
are skipped. An event that reaches the end of the buffer may continue in data
not read yet: unless the buffer is final, it is left unconsumed for next time.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from detector.clock import Timeline
from detector.decode.fields import Record, decode_line
from detector.decode.formats import JSON_FORMATS
from detector.decode.multiline import Continuation, is_intro, starts_traceback
from detector.model import ERROR, NOLEVEL, Event

__all__ = ["Origin", "Stream", "assemble"]

MAX_EVENT_LINES = 400
MAX_EVENT_CHARS = 256 * 1024
MAX_LOOKBACK_LINES = 40
_QUICK_PREFIXES = (b"DETAIL:", b"HINT:", b"CONTEXT:", b"STATEMENT:", b"QUERY:", b"LOCATION:",
                   b"WHERE:", b"[SQL:", b"[parameters:", b"(Background", b"task: <",
                   b"future: <", b"client_session: <", b"connector: <", b"connections: [",
                   b"transport: <", b"protocol: <", b"handle: <", b"source_traceback:",
                   b"exception: ", b"Object created at", b"Traceback (most recent",
                   b"During handling", b"The above exception", b"LINE ", b"Caused by:",
                   b"Suppressed:", b"Wrapped by:", b"goroutine ", b"[signal ")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a stream of lines comes from."""

    source: str                     # the source's name (file path, container, topic…)
    service: str | None = None      # from source metadata: file name, container, log group…
    override: str | None = None     # the config's `service`: wins over everything
    allow_json: bool = True         # format = plain turns JSON decoding off
    expect_json: bool = False       # a JSON format named: other lines are malformed
    format: str = "auto"            # one of detector.decode.formats.FORMATS

    @staticmethod
    def for_path(path: str, *, override: str | None = None, format: str = "auto") -> Origin:
        return Origin(source=path, service=service_from_path(path), override=override,
                      allow_json=format != "plain", expect_json=format in JSON_FORMATS,
                      format=format)


def service_from_path(path: str) -> str:
    """``/var/log/orders-worker.log.gz`` → ``orders-worker``; ``-`` → ``stdin``; the
    container of a Kubernetes log (``/var/log/pods/<ns>_<pod>_<uid>/<container>/0.log``,
    ``/var/log/containers/<pod>_<ns>_<container>-<id>.log``)."""
    if path in ("-", ""):
        return "stdin"
    name = os.path.basename(path.rstrip("/"))
    parent = os.path.dirname(path.rstrip("/"))
    if "/pods/" in path and name.split(".", 1)[0].isdigit() and parent:
        return os.path.basename(parent)
    if os.path.basename(parent) == "containers" and name.count("_") == 2:
        container = name.rsplit("_", 1)[1].split(".", 1)[0]
        head, _, tail = container.rpartition("-")
        if head and len(tail) == 64:
            return head
    stem = name.split(".", 1)[0]
    if stem.endswith("-json") and len(stem) > 60:   # docker's <container-id>-json.log
        stem = stem[:12]
    return stem or name


@dataclass(slots=True)
class Stream:
    """What the assembler remembers about one stream between buffers."""

    origin: Origin
    last_time: float | None = None
    first_time: float | None = None         # the stream's first timestamped line
    timeline: Timeline = field(default_factory=Timeline)
    year_hint: int | None = None
    malformed: int = 0
    absurd: int = 0                         # lines whose time was absurd (read as untimed)
    fallback_time: float | None = None      # replay: for a stream with no time at all
    ahead: tuple[int, float | None] | None = None   # this buffer's next timed line (memo)


def _decode(stream: Stream, raw: bytes) -> Record:
    origin = stream.origin
    return decode_line(raw, allow_json=origin.allow_json, year_hint=stream.year_hint,
                       format=origin.format)


def _is_malformed(stream: Stream, record: Record) -> bool:
    return record.malformed or (stream.origin.expect_json and not record.is_json)


def _quick_reject(raw: bytes, cont: Continuation) -> bool:
    """True when ``raw`` certainly does not continue the event (no decoding needed)."""
    if not raw or raw[:1] in (b" ", b"\t", b"{", b"\r") or cont.in_frames:
        return False
    if raw.startswith(_QUICK_PREFIXES):
        return False
    return b":  " not in raw


def assemble(buf: bytes, hits: Sequence[tuple[int, frozenset[int]]], stream: Stream, *,
             final: bool, arrival: float | None = None) -> tuple[list[Event], int]:
    """Events for the candidate lines ``hits`` (line end offset, pattern ids) of ``buf``.

    ``buf`` holds whole lines, each ending in ``\\n``. Returns the events and how
    many bytes of ``buf`` were consumed; the rest must be offered again with more
    data (or with ``final=True``). ``arrival`` is the wall time for live sources:
    lines without a timestamp take it; in replay they take the previous line's.
    """
    events: list[Event] = []
    stream.ahead = None
    done = 0                      # bytes before this offset belong to emitted events
    size = len(buf)
    index = 0
    total = len(hits)
    origin = stream.origin
    while index < total:
        end = hits[index][0]
        start = buf.rfind(b"\n", 0, end) + 1
        if start < done:
            index += 1
            continue
        record = _decode(stream, buf[start:end])
        head_start, head = start, record
        if not record.whole and (is_intro(record.body) or starts_traceback(record.body)):
            head_start, head = _find_head(buf, start, done, record, stream)

        # Forward over the continuation lines. When the head carries a prefix (a time, a
        # level, a container or syslog header), a traceback logged line by line carries
        # it on every line too: continuations are judged, and kept, without it.
        prefixed = len(head.body) != len(head.text)
        texts = [head.text]
        chars = len(head.text)
        cont = Continuation(head.body)
        last_end = _line_end(buf, head_start)
        partial = head.partial
        level = head.level
        malformed = int(_is_malformed(stream, head))
        absurd = int(head.absurd)
        structured = head.is_json
        closed = head.whole and not partial     # a record whose message is the whole event
        deferred = False
        while not closed:
            next_start = last_end + 1
            if next_start >= size:
                if not final:
                    deferred = True
                break
            next_end = buf.find(b"\n", next_start)
            if next_end < 0:
                next_end = size
            raw = buf[next_start:next_end]
            if not partial and not prefixed and not head.framed and _quick_reject(raw, cont):
                break
            following = _peek_text(buf, next_end, stream) if not raw.strip() else None
            record = _decode(stream, raw)
            if (record.is_json != structured or record.whole or (
                    structured and record.service != head.service)) and not (
                    partial and record.is_json == structured):
                # Another record (JSON and plain text interleaved, another service's JSON,
                # a JSON record holding a whole traceback): it is never this one's tail.
                break
            if partial:
                texts[-1] += record.text
                partial = record.partial
            elif cont.accepts(record.body if prefixed else record.text, following):
                texts.append(record.body if prefixed else record.text)
                level = max(level, record.level)
            else:
                break
            malformed += _is_malformed(stream, record)
            absurd += record.absurd
            chars += len(record.text)
            last_end = next_end
            if len(texts) >= MAX_EVENT_LINES or chars >= MAX_EVENT_CHARS:
                break
        if deferred:
            return events, head_start

        candidates: set[int] = set()
        while index < total and hits[index][0] <= last_end:
            candidates |= hits[index][1]
            index += 1
        done = last_end + 1

        stream.malformed += malformed    # counted once, when the lines become an event
        stream.absurd += absurd
        text = "\n".join(texts)
        when = head.time
        timed = when is not None
        if when is None:
            when = arrival if arrival is not None else _time_before(buf, head_start, stream)
            if when is None:
                # Replay, before the stream's first timed line: that first time.
                when = _time_after(buf, last_end, stream)
        if head.level == NOLEVEL and cont.saw_traceback:
            level = max(level, ERROR)
        service = origin.override or head.service or origin.service or origin.source
        events.append(Event(time=when if when is not None else 0.0, service=service,
                            level=level, text=text, source=origin.source, timed=timed,
                            lines=len(texts), candidates=frozenset(candidates)))
    return events, size


def _line_end(buf: bytes, start: int) -> int:
    end = buf.find(b"\n", start)
    return len(buf) if end < 0 else end


def _peek_text(buf: bytes, after: int, stream: Stream) -> str | None:
    """The next non-blank line after offset ``after`` (for blank-line decisions)."""
    position = after + 1
    for _ in range(3):
        if position >= len(buf):
            return None
        end = _line_end(buf, position)
        raw = buf[position:end]
        if raw.strip():
            return _decode(stream, raw).body
        position = end + 1
    return None


def _find_head(buf: bytes, start: int, floor: int, record: Record,
               stream: Stream) -> tuple[int, Record]:
    """Walk back from a continuation line to the record it belongs to.

    The head is the nearest earlier line that is not itself a continuation, when
    it looks like a log record (it has a time or a level); otherwise the earliest
    continuation line. A blank line ends the walk: what follows it stands alone.
    """
    head_start, head = start, record
    position = start
    for _ in range(MAX_LOOKBACK_LINES):
        if position <= floor:
            break
        previous_start = buf.rfind(b"\n", 0, position - 1) + 1
        if previous_start < floor:
            break
        raw = buf[previous_start:position - 1]
        if not raw.strip():
            break
        previous = _decode(stream, raw)
        if is_intro(previous.body) or starts_traceback(previous.body):
            head_start, head = previous_start, previous
            position = previous_start
            continue
        if previous.whole or previous.is_json != record.is_json:
            break                       # another record: never the head of this one
        if previous.time is not None or previous.level != NOLEVEL:
            head_start, head = previous_start, previous
        break
    return head_start, head


def _time_before(buf: bytes, position: int, stream: Stream) -> float | None:
    """The time of the nearest earlier line that has one (replay semantics)."""
    for _ in range(MAX_LOOKBACK_LINES):
        if position <= 0:
            break
        previous_start = buf.rfind(b"\n", 0, position - 1) + 1
        raw = buf[previous_start:position - 1]
        position = previous_start
        if raw.strip():
            when = _decode(stream, raw).time
            if when is not None:
                return when
    return stream.last_time


def _time_after(buf: bytes, position: int, stream: Stream) -> float | None:
    """The time of the first later line that has one; else the stream's first time, or
    the input's own (replay, lines before any timed line). Each buffer is searched once."""
    ahead = stream.ahead
    if ahead is not None and position < ahead[0]:
        when = ahead[1]
    else:
        size = len(buf)
        position += 1
        when = None
        while position < size:
            end = _line_end(buf, position)
            raw = buf[position:end]
            position = end + 1
            if raw.strip():
                when = _decode(stream, raw).time
                if when is not None:
                    break
        stream.ahead = (position - 1 if when is not None else size, when)
    if when is not None:
        return when
    return stream.first_time if stream.first_time is not None else stream.fallback_time


def first_time_in(buf: bytes, stream: Stream) -> float | None:
    """Where ``buf`` starts in time: the median of its first few timestamps, so that one
    wild timestamp among them cannot stand for the whole stream."""
    position = 0
    times: list[float] = []
    for _ in range(32):
        end = buf.find(b"\n", position)
        if end < 0:
            end = len(buf)
        raw = buf[position:end]
        if raw.strip():
            when = _decode(stream, raw).time
            if when is not None:
                times.append(when)
                if len(times) == 7:
                    break
        position = end + 1
        if position >= len(buf):
            break
    if not times:
        return None
    times.sort()
    return times[(len(times) - 1) // 2]


def last_time_in(buf: bytes, stream: Stream) -> float | None:
    """The time of the last timestamped line among the final few lines of ``buf``."""
    position = len(buf)
    if position and buf[position - 1:position] == b"\n":
        position -= 1
    for _ in range(8):
        if position <= 0:
            break
        line_start = buf.rfind(b"\n", 0, position) + 1
        raw = buf[line_start:position]
        position = line_start - 1
        if raw.strip():
            when = _decode(stream, raw).time
            if when is not None:
                return when
    return None

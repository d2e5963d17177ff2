"""``detector replay``: the daemon's pipeline over files, in event time, as fast as it goes.

Several inputs are merged by event time: each input is first looked at (its first
64 KiB) for the time it starts at, then the next chunk always comes from the input
that is furthest behind (an input not started yet is at its first time), and the
watermark is the slowest input's time, so incidents resolve and rate buckets close
exactly when they would have live, whatever order the inputs were named in
(``app.log app.log.1.gz`` as a shell glob gives them, newest first, included).

Lines older than the time already replayed (a stream that goes back in time, such as
several days concatenated on stdin) are late: counted and reported, never silently
lost. An input that cannot be read (a corrupt ``.gz``) is reported and the others go
on; the exit status is then 2. Lines before an input's first timestamp take that first
time; an input without any timestamp takes its file's modification time.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from detector.build import build_pipeline, load_patterns, make_engine
from detector.config import Config
from detector.decode.events import Origin, Stream, first_time_in
from detector.decode.timestamps import parse_iso
from detector.errors import InputError, UserError
from detector.match.engine import Engine
from detector.model import EventName, IncidentEvent
from detector.pipeline import Pipeline
from detector.replay.filters import EventFilter
from detector.replay.inputs import ChunkReader, expand_inputs
from detector.replay.output import IncidentTable, JsonlWriter, OrderedSink, Progress, summary_line
from detector.telemetry.logs import is_tty

__all__ = ["ReplayOptions", "replay"]


@dataclass
class ReplayOptions:
    paths: list[str]
    format: str = "auto"
    output: str = "text"
    engine: str = "auto"
    service: str | None = None
    report: str | None = None
    notify: bool = False
    notify_timeout: float = 60.0
    chunk_size: int = 4 << 20
    runbooks: bool = True
    only: EventFilter = field(default_factory=EventFilter)   # which incident events to show
    extra: dict[str, Any] = field(default_factory=dict)


PEEK_BYTES = 64 << 10      # how much of each input is read first, for its start time


@dataclass
class _Input:
    reader: ChunkReader
    stream: Stream
    pending: bytes = b""
    first_time: float | None = None   # where the input starts (from its first lines)
    failed: str | None = None         # why it could not be read (the others go on)

    @property
    def time(self) -> float | None:
        """How far this input has got in event time (its start, before it started)."""
        last = self.stream.last_time
        return last if last is not None else self.first_time


def replay(config: Config, options: ReplayOptions, *, out: TextIO | None = None,
           err: TextIO | None = None, engine: Engine | None = None) -> int:
    """``engine``: one already built from ``config`` (benchmarks replay many small files)."""
    out = out or sys.stdout
    err = err or sys.stderr
    started = time.monotonic()
    paths = expand_inputs(options.paths)
    if engine is None:
        engine = make_engine(config, load_patterns(config), options.engine)

    jsonl = JsonlWriter(out) if options.output == "jsonl" else None
    table = IncidentTable()
    sinks: list[Any] = [table] + ([jsonl] if jsonl else [])

    def deliver(event: IncidentEvent) -> None:
        for target in sinks:
            target(event)

    ordered = OrderedSink(deliver)
    resolve_after = config.detect.resolve_after
    only = options.only
    hidden = [0]

    def sink(event: IncidentEvent) -> None:
        when = _event_time(event, resolve_after)
        if only.wants(event, when):
            ordered(event, when)
        else:
            hidden[0] += 1

    pipeline = build_pipeline(config, engine, sink, live=False,
                              record_series=options.report is not None)
    notifying = _Notifying(config, err) if options.notify else None
    if notifying is not None:
        sinks.append(notifying.enqueue)

    inputs = [_Input(reader=ChunkReader(p, chunk_size=options.chunk_size),
                     stream=Stream(origin=Origin.for_path(
                         p, override=options.service, format=options.format),
                         fallback_time=_modified(p)))
              for p in paths]
    total = sum(i.reader.size or 0 for i in inputs) or None
    progress = Progress(total, enabled=is_tty(err) and (total is None or total > 8 << 20),
                        out=err)
    try:
        _run(pipeline, inputs, progress, table, ordered)
    finally:
        for item in inputs:
            item.reader.close()
        progress.finish()
    for item in inputs:
        if item.failed is not None:
            err.write(f"detector: {item.failed}; the other inputs were replayed\n")
        if item.reader.encoding is not None:
            err.write(f"detector: {item.reader.path}: read as {item.reader.encoding.upper()}\n")
    ordered.release(None)
    if jsonl is not None:
        jsonl.flush()
    elapsed = time.monotonic() - started      # the replay itself, not the delivery wait
    delivered = notifying.deliver(options.notify_timeout) if notifying is not None else True

    oversized = sum(i.reader.oversized for i in inputs)
    extras = [f"{len(table.latest)} incidents"]
    if pipeline.stats.malformed:
        extras.append(f"{pipeline.stats.malformed} malformed")
        if options.format != "auto":
            err.write(f"detector: {pipeline.stats.malformed} lines were not "
                      f"{options.format} (--format {options.format}): counted as malformed "
                      "and read as plain text\n")
    if hidden[0]:
        extras.append(f"{hidden[0]} incident events filtered out")
    if oversized:
        extras.append(f"{oversized} oversized lines cut")
    if engine.timeouts:
        extras.append(f"{engine.timeouts} regex timeouts")
    if pipeline.clock.jumps_doubted:
        extras.append(f"{pipeline.clock.jumps_doubted} doubtful timestamps")
    absurd = sum(i.stream.absurd for i in inputs)
    if absurd:
        extras.append(f"{absurd} absurd timestamps read as untimed")
    late = pipeline.clock.late
    if late:
        extras.append(f"{late} late events")
        err.write(f"detector: {late} events were older than the time already replayed on "
                  f"their input by more than the allowed lateness "
                  f"({pipeline.clock.lateness:g}s): counted into the incidents open then, "
                  "not dated anew (an input that is several files concatenated: give each "
                  "file as its own input)\n")
    table.refresh(e for e in (i.event(EventName.OPEN) for i in pipeline.tracker.open.values())
                  if e["id"] in table.latest)
    if options.report is not None:
        _write_report(options.report, paths, pipeline, table, time.monotonic() - started)
    if options.output == "text":
        colour = is_tty(out)
        table.render(out, colour=colour)
        if options.runbooks:
            table.runbooks(out, colour=colour)
        out.write("\n" + summary_line(pipeline.stats, elapsed, engine.name, extras) + "\n")
    elif is_tty(err):
        err.write(summary_line(pipeline.stats, elapsed, engine.name, extras) + "\n")
    if any(i.failed is not None for i in inputs):
        return 2
    return 0 if delivered else 1


def _modified(path: str) -> float:
    """The time of an input without timestamps: its file's modification time (now for a
    stream)."""
    try:
        info = os.stat(path)
    except OSError:
        return time.time()
    return info.st_mtime if os.path.isfile(path) else time.time()


def _write_report(target: str, paths: list[str], pipeline: Pipeline, table: IncidentTable,
                  elapsed: float) -> None:
    from detector.detect.rates import RateDetector
    from detector.replay.report import render_report

    series = {}
    window = pipeline.tracker.resolve_after
    for detector in pipeline.detectors:
        if isinstance(detector, RateDetector):
            window = detector.window_seconds
            series = {name: key.series for name, key in detector.keys.items()
                      if key.series is not None}
    page = render_report(title="detector replay report", inputs=paths, series=series,
                         window=window, incidents=table.latest.values(),
                         lines=pipeline.stats.lines, elapsed=elapsed)
    try:
        with open(target, "w", encoding="utf-8") as out:
            out.write(page)
    except OSError as exc:
        raise InputError(f"{target}: cannot write the report: {exc.strerror or exc}") from None


class _Notifying:
    """``replay --notify``: spool into the daemon's outbox, then deliver before exit."""

    def __init__(self, config: Config, err: TextIO) -> None:
        from detector.notify import build_notifiers
        from detector.notify.dispatcher import Dispatcher
        from detector.notify.outbox import Outbox
        from detector.telemetry.metrics import Registry

        if not config.notify:
            raise UserError("--notify needs at least one [[notify]] table in the config (-c)")
        self.err = err
        self.registry = Registry()
        self.outbox = Outbox.in_state_dir(config.state.dir)
        self.dispatcher = Dispatcher(build_notifiers(config.notify), self.outbox, self.registry)

    def enqueue(self, event: IncidentEvent) -> None:
        self.dispatcher.enqueue(event)

    def deliver(self, timeout: float) -> bool:
        async def run() -> bool:
            async with self.dispatcher:
                return await self.dispatcher.drain(within=timeout)

        try:
            done = asyncio.run(run())
        finally:
            pending = self.outbox.pending(self.dispatcher.notifiers)
            dead = sum(n for (_, state), n in self.outbox.depth().items() if state == "dead")
            self.outbox.close()
        sent = sum(value for _, value in self.dispatcher.sent.samples())
        self.err.write(f"notifications: {sent:.0f} delivered, {dead} dead letters, "
                       f"{pending} pending\n")
        if not done:
            self.err.write(f"detector: {pending} notifications still pending after "
                           f"{timeout:g}s; they stay in the outbox and are retried by the "
                           "next `detector run` or `replay --notify`\n")
        return done


def _event_time(event: IncidentEvent, resolve_after: float) -> float:
    """When an incident event happened in event time (resolves: at the end of the quiet)."""
    if event["event"] == "open":
        return parse_iso(event["first_seen"]) or 0.0
    when = parse_iso(event["last_seen"]) or 0.0
    return when + resolve_after if event["event"] == "resolve" else when


def _read(item: _Input, size: int | None = None) -> bytes | None:
    """The input's next chunk; a read error ends that input (reported), not the replay."""
    try:
        return item.reader.read(size)
    except InputError as exc:
        item.failed = str(exc)
        item.reader.eof = True
        return None


def _run(pipeline: Pipeline, inputs: list[_Input], progress: Progress,
         table: IncidentTable, ordered: OrderedSink) -> None:
    lateness = pipeline.clock.lateness
    # A first look at every input: the time it starts at orders the merge.
    for item in inputs:
        first = _read(item, PEEK_BYTES)
        item.pending = first or b""
        if item.pending:
            item.first_time = first_time_in(item.pending, item.stream)
    queue: list[tuple[float, int]] = [
        (item.first_time if item.first_time is not None else -math.inf, index)
        for index, item in enumerate(inputs)]
    heapq.heapify(queue)
    active = set(range(len(inputs)))
    while queue:
        _, index = heapq.heappop(queue)
        item = inputs[index]
        chunk = _read(item)
        final = item.reader.eof
        if chunk is None:
            chunk = b""
            final = True
        buf = item.pending + chunk if item.pending else chunk
        if buf:
            consumed = pipeline.feed(buf, item.stream, final=final)
            item.pending = buf[consumed:]
        if final:
            if item.pending:
                pipeline.feed(item.pending, item.stream, final=True)
                item.pending = b""
            active.discard(index)
        else:
            at = item.time
            heapq.heappush(queue, (at if at is not None else -math.inf, index))
        times = [t for t in (inputs[i].time for i in active) if t is not None]
        if active and times:
            watermark = min(times) - lateness
            pipeline.advance(watermark)
            ordered.release(watermark)
        elif not active:
            pipeline.advance()
        done_bytes = sum(i.reader.position for i in inputs)
        progress.update(done_bytes, pipeline.stats.lines, len(table.latest))

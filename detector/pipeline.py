"""The pipeline both drivers run: buffer → candidates → events → matches → incidents.

``feed`` takes a buffer of whole lines from one stream; the engine finds the
candidate lines, the assembler turns them into events, the engine confirms
signatures, and the incident tracker and the detectors turn occurrences into
incident events, which go to ``sink``. ``advance`` moves the watermark: quiet
incidents resolve and rate buckets close. Replay calls it with event time, the
daemon with wall time; the code is the same.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from detector.clock import EventClock
from detector.decode.events import Stream, assemble, first_time_in, last_time_in
from detector.detect.base import Detector
from detector.incidents import Finding, IncidentTracker, Occurrence
from detector.match.engine import Engine, Match
from detector.model import Event, IncidentEvent, Kind
from detector.redact import redact
from detector.runbooks import Runbooks

__all__ = ["Pipeline", "Sink", "Stats"]

Sink = Callable[[IncidentEvent], None]


@dataclass
class Stats:
    lines: int = 0
    bytes: int = 0
    candidates: int = 0
    events: int = 0
    malformed: int = 0
    matches: Counter[str] = field(default_factory=Counter)       # by class
    incident_events: Counter[tuple[str, str, str]] = field(default_factory=Counter)


class Pipeline:
    def __init__(self, engine: Engine, tracker: IncidentTracker, clock: EventClock,
                 sink: Sink, detectors: Sequence[Detector] = (),
                 runbooks: Runbooks | None = None) -> None:
        """``detectors`` learn from every event after the signatures are confirmed."""
        self.engine = engine
        self.runbooks = runbooks or Runbooks(engine.patterns, engine.by_class)
        self.tracker = tracker
        self.clock = clock
        self.sink = sink
        self.detectors = list(detectors)
        self.stats = Stats()

    def emit(self, event: IncidentEvent) -> None:
        self.stats.incident_events[(event["event"], event["kind"], event["class"])] += 1
        self.sink(event)

    def apply(self, findings: Iterable[Finding]) -> None:
        """Hand findings to the incident tracker and emit the incident events they cause."""
        for finding in findings:
            if isinstance(finding, Occurrence):
                finding.runbook = self.runbooks.choose(finding)
            for event in self.tracker.apply(finding):
                self.emit(event)

    def feed(self, buf: bytes, stream: Stream, *, final: bool = False,
             arrival: float | None = None) -> int:
        """Process the whole lines of ``buf``; returns how many bytes were consumed."""
        if stream.first_time is None and buf:
            # Tell the detectors the stream's service exists from its first line, before
            # any of its events: trouble first seen hours in is measured against them.
            stream.first_time = arrival if arrival is not None else first_time_in(buf, stream)
            if arrival is None and stream.first_time is not None:
                self.clock.admit(stream.first_time, True, None, stream.timeline)
            service = stream.origin.override or stream.origin.service
            if service is not None and stream.first_time is not None:
                for detector in self.detectors:
                    detector.seen(service, stream.first_time)
        hits = self.engine.scan(buf)
        malformed_before = stream.malformed
        events, consumed = assemble(buf, hits, stream, final=final, arrival=arrival)
        stats = self.stats
        stats.candidates += len(hits)
        stats.lines += buf.count(b"\n", 0, consumed)
        stats.bytes += consumed
        for event in events:
            self.handle(event, arrival, stream)
        stats.malformed += stream.malformed - malformed_before
        if consumed and arrival is None:
            when = last_time_in(buf[:consumed] if consumed < len(buf) else buf, stream)
            if when is not None:
                stream.last_time = self.clock.admit(when, True, None, stream.timeline)
        return consumed

    def handle(self, event: Event, arrival: float | None = None,
               stream: Stream | None = None) -> None:
        when = self.clock.admit(event.time, event.timed, arrival,
                                stream.timeline if stream is not None else None)
        event.time = when
        # Secrets are masked before anything is captured, counted, learned or stored.
        event.text = redact(event.text)
        stats = self.stats
        stats.events += 1
        match = self.engine.confirm(event)
        if match is not None:
            pattern = match.pattern
            stats.matches[pattern.cls] += 1
            # Different signatures are different problems even when they share a class.
            key = {name: match.fields.get(name, "") for name in pattern.fingerprint}
            key["pattern"] = pattern.id
            self.apply((Occurrence(
                kind=Kind.SIGNATURE, cls=pattern.cls, service=event.service, key=key,
                severity=pattern.severity, summary=_summary(match), sample=event.text,
                when=when, pattern=pattern.id, fields=match.fields,
                runbook=pattern.runbook.as_json() if pattern.runbook else None),))
        for detector in self.detectors:
            self.apply(detector.observe(event, match, when))

    def advance(self, watermark: float | None = None) -> None:
        """Move time forward: resolve quiet incidents, close rate buckets."""
        if watermark is None:
            watermark = self.clock.watermark()
        if watermark is None:
            return
        for detector in self.detectors:
            self.apply(detector.advance(watermark))
        for event in self.tracker.tick(watermark):
            self.emit(event)


def _summary(match: Match) -> str:
    """The pattern's summary template when every field it names was captured, else
    the title and the matched line from where the signature starts."""
    pattern = match.pattern
    if pattern.summary is not None:
        try:
            return pattern.summary.format_map(match.fields)
        except (KeyError, ValueError, IndexError):
            pass
    line = match.line.strip()
    return f"{pattern.title}: {line}" if line else pattern.title

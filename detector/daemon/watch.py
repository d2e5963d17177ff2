"""The daemon watching itself: health, ``source_down`` incidents, and pipeline metrics.

A source that has been failing for ``FAILING_GRACE`` (or silent for longer than
its ``max_silence``) is unhealthy: ``/healthz`` says so with the reason, and an
incident of class ``source_down`` (service = the source's name) opens; it is
kept alive while the source stays down and resolves when it recovers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from detector.daemon.queue import BatchQueue
from detector.incidents import Occurrence, Resolution
from detector.model import Kind, RunbookJSON, Severity
from detector.pipeline import Pipeline
from detector.sources.base import Source
from detector.telemetry.metrics import Registry

__all__ = ["Watch"]

FAILING_GRACE = 30.0
REPORT_EVERY = 60.0
RUNBOOK: RunbookJSON = {
    "title": "The detector cannot read one of its sources",
    "steps": ["`curl -s http://127.0.0.1:9464/healthz` names the source and the last error.",
              "`journalctl -u detector` shows when it started (logged once per kind of error).",
              "Check what the source needs: the file's permissions, the Docker socket, AWS "
              "credentials, Loki or Kafka reachable from this host.",
              "A silent source may simply have nothing to say: raise its max_silence if so."]}


class Watch:
    def __init__(self, sources: Sequence[Source], pipeline: Pipeline, registry: Registry,
                 queue: BatchQueue, held: Any) -> None:
        self.sources = list(sources)
        self.pipeline = pipeline
        self.down: dict[str, float] = {}          # source name → last report time
        # The daemon's own troubles, by part ("outbox", "state"): reason, since when.
        self.conditions: dict[str, tuple[str, float]] = {}
        stats = pipeline.stats
        registry.counter("detector_lines_processed_total", "Lines through the pipeline.",
                         lambda: [({}, float(stats.lines))])
        registry.counter("detector_bytes_processed_total", "Bytes through the pipeline.",
                         lambda: [({}, float(stats.bytes))])
        registry.counter("detector_events_total", "Decoded events (candidate lines).",
                         lambda: [({}, float(stats.events))])
        registry.counter("detector_matches_total", "Signatures confirmed, by class.",
                         lambda: [({"class": c}, float(n)) for c, n in stats.matches.items()])
        registry.counter("detector_incident_events_total",
                         "Incident events by event, kind and class.",
                         lambda: [({"event": e, "kind": k, "class": c}, float(n))
                                  for (e, k, c), n in stats.incident_events.items()])
        registry.counter("detector_decode_errors_total",
                         "Lines that looked like JSON but were not (read as text).",
                         lambda: [({}, float(stats.malformed))])
        registry.counter("detector_regex_timeouts_total",
                         "Pattern matches stopped by the regex timeout.",
                         lambda: [({}, float(pipeline.engine.timeouts))])
        clock = pipeline.clock
        registry.counter("detector_late_events_total", "Events older than the watermark.",
                         lambda: [({}, float(clock.late))])
        registry.counter("detector_future_timestamps_total",
                         "Timestamps in the future, clamped to arrival.",
                         lambda: [({}, float(clock.future))])
        registry.gauge("detector_queue_batches", "Batches waiting to be processed.",
                       lambda: [({}, float(queue.qsize()))])
        registry.gauge("detector_queue_bytes", "Bytes waiting to be processed (bounded).",
                       lambda: [({}, float(queue.bytes))])
        registry.gauge("detector_held_bytes", "Bytes held back waiting for an event's end.",
                       lambda: [({}, float(held()))])
        registry.gauge("detector_open_incidents", "Open incidents.",
                       lambda: [({}, float(len(pipeline.tracker.open)))])
        registry.gauge("detector_source_healthy", "1 if a source is healthy.",
                       lambda: [({"source": s.name}, 0.0 if self.problem(s) else 1.0)
                                for s in self.sources])

    def problem(self, source: Source, now: float | None = None) -> str | None:
        now = time.time() if now is None else now
        if not source.health.ok and now - source.health.since >= FAILING_GRACE:
            return source.health.reason
        limit = source.config.max_silence
        if limit and now - source.last_data > limit:
            return f"no data for {now - source.last_data:.0f}s (max_silence {limit:g}s)"
        return None

    def degrade(self, part: str, reason: str | None) -> None:
        """The daemon's ``part`` is in trouble (``reason``), or fine again (``None``)."""
        if reason is None:
            self.conditions.pop(part, None)
        elif self.conditions.get(part, ("", 0.0))[0] != reason:
            self.conditions[part] = (reason, time.time())

    def health(self) -> tuple[bool, dict[str, Any]]:
        now = time.time()
        report: dict[str, Any] = {}
        healthy = not self.conditions
        for source in self.sources:
            problem = self.problem(source, now)
            report[source.name] = {"ok": problem is None, "type": source.kind,
                                   **({"reason": problem} if problem else {}),
                                   "last_data_seconds_ago": round(now - source.last_data, 1)}
            healthy &= problem is None
        answer: dict[str, Any] = {"status": "ok" if healthy else "unhealthy", "sources": report}
        if self.conditions:
            answer["daemon"] = {part: {"ok": False, "reason": reason,
                                       "since_seconds": round(now - since, 1)}
                                for part, (reason, since) in self.conditions.items()}
        return healthy, answer

    def check(self) -> None:
        """Open, keep alive or resolve ``source_down`` incidents."""
        now = time.time()
        for source in self.sources:
            problem = self.problem(source, now)
            if problem is None:
                if self.down.pop(source.name, None) is not None:
                    self.pipeline.apply((Resolution(Kind.SIGNATURE, "source_down", source.name,
                                                    {}, now),))
                continue
            last = self.down.get(source.name)
            if last is not None and now - last < REPORT_EVERY:
                continue
            self.down[source.name] = now
            self.pipeline.apply((Occurrence(
                kind=Kind.SIGNATURE, cls="source_down", service=source.name, key={},
                severity=Severity.ERROR, summary=f"Source {source.name} is down: {problem}",
                sample=problem, when=now, pattern="detector.source_down", runbook=RUNBOOK),))

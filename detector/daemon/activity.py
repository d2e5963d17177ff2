"""What the status page charts: events per minute, per service, over the last hours.

A detector of its own kind (:class:`detector.detect.base.Detector`) that finds nothing:
it counts every event the pipeline decodes (lines with an error-level word, or that a
pattern's prefilter picked) into one-minute buckets of event time per service, and the
signatures among them. Bounded: ``HOURS`` of buckets per service, ``MAX_SERVICES``
services (the quietest forgotten first). Saved with the other detectors' state, so the
charts survive a restart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from detector.errors import StateError
from detector.incidents import Finding
from detector.match.engine import Match
from detector.model import Event

__all__ = ["Activity"]

BUCKET = 60.0
HOURS = 3
SPAN = int(HOURS * 3600 / BUCKET)        # buckets kept per service
MAX_SERVICES = 64
VERSION = 1


class Activity:
    name = "activity"

    def __init__(self) -> None:
        # service → {minute: [events, signatures]}
        self.services: dict[str, dict[int, list[int]]] = {}
        self.latest = 0                   # the newest minute seen

    def seen(self, service: str, when: float) -> None:
        return None

    def observe(self, event: Event, match: Match | None, when: float) -> Sequence[Finding]:
        if not math.isfinite(when):
            return ()
        minute = int(when // BUCKET)
        if minute < self.latest - SPAN:
            return ()
        buckets = self.services.get(event.service)
        if buckets is None:
            if len(self.services) >= MAX_SERVICES:
                quietest = min(self.services, key=lambda s: sum(c[0] for c in
                                                                 self.services[s].values()))
                del self.services[quietest]
            buckets = self.services[event.service] = {}
        counts = buckets.get(minute)
        if counts is None:
            counts = buckets[minute] = [0, 0]
        counts[0] += 1
        if match is not None:
            counts[1] += 1
        if minute > self.latest:
            self.latest = minute
        return ()

    def advance(self, watermark: float) -> Sequence[Finding]:
        if math.isfinite(watermark):
            self.latest = max(self.latest, int(watermark // BUCKET))
        oldest = self.latest - SPAN
        for service, buckets in list(self.services.items()):
            for minute in [m for m in buckets if m < oldest]:
                del buckets[minute]
            if not buckets:
                del self.services[service]
        return ()

    def series(self, service: str, end: float) -> list[tuple[float, int, int]]:
        """(minute start, events, signatures) for the last ``HOURS`` before ``end``."""
        buckets = self.services.get(service, {})
        last = int(end // BUCKET)
        return [(m * BUCKET, *buckets.get(m, (0, 0))) for m in range(last - SPAN + 1, last + 1)]

    def busiest(self, limit: int = 12) -> list[str]:
        totals = {s: sum(c[0] for c in b.values()) for s, b in self.services.items()}
        return sorted(totals, key=lambda s: (-totals[s], s))[:limit]

    def snapshot(self) -> dict[str, Any]:
        return {"version": VERSION, "latest": self.latest,
                "services": {s: {str(m): c for m, c in b.items()}
                             for s, b in self.services.items()}}

    def restore(self, data: dict[str, Any]) -> None:
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise StateError("activity: unknown snapshot version")
        try:
            self.latest = int(data["latest"])
            self.services = {str(s): {int(m): [int(c[0]), int(c[1])] for m, c in b.items()}
                             for s, b in data["services"].items()}
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise StateError(f"activity: {exc!r}") from None

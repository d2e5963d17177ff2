"""Incidents: fingerprint, dedup, and the open → update → resolve lifecycle.

All in event time. An occurrence whose fingerprint (kind + class + service +
identifying fields, ids masked) has an open incident counts into it; otherwise
it opens one. ``update`` is sent when an occurrence finds the count grown and
the last notification at least ``update_interval`` old, so a storm of a
thousand lines is one ``open`` and a few ``update``s. An incident quiet for
``resolve_after`` resolves; an occurrence after that opens a new incident.
Rate spikes resolve when their detector says the rate is back (or, as a safety
net, after the same quiet time). Samples are redacted before they are stored.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import re
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from detector.errors import StateError
from detector.model import EventName, IncidentEvent, Kind, RunbookJSON, Severity
from detector.redact import redact

__all__ = ["Finding", "Incident", "IncidentTracker", "Occurrence", "Resolution", "iso",
           "mask_ids"]

SNAPSHOT_VERSION = 1
MAX_SAMPLES = 3
MAX_SAMPLE_CHARS = 2000
MAX_SUMMARY_CHARS = 300

# UUIDs, hex ids (with a digit and a letter, or any hex run after a key separator
# such as ``lock:smart_bot:ffddad``), numbers of 5+ digits, addresses.
_IDS = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
    r"|\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{6,}\b"
    r"|(?<=[:/=#_-])[0-9a-fA-F]{6,}\b"
    r"|\b\d{5,}\b"
    r"|\b0x[0-9a-fA-F]+\b")


def mask_ids(value: str) -> str:
    """``lock:smart_bot:123abc`` → ``lock:smart_bot:<id>``: one incident for all bots."""
    return _IDS.sub("<id>", value)


def iso(seconds: float) -> str:
    """Epoch seconds → ``2026-11-20T10:00:03Z`` (milliseconds only when present)."""
    whole = math.floor(seconds)
    millis = round((seconds - whole) * 1000)
    if millis == 1000:
        whole, millis = whole + 1, 0
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return f"{base}.{millis:03d}Z" if millis else f"{base}Z"


@dataclass(slots=True)
class Occurrence:
    """``add`` occurrences of one problem, as a detector (or a signature) saw them."""

    kind: Kind
    cls: str
    service: str
    key: dict[str, str]             # what identifies the problem beside kind, class, service
    severity: Severity
    summary: str
    sample: str
    when: float
    pattern: str | None = None
    fields: dict[str, str] | None = None     # default: the key
    runbook: RunbookJSON | None = None
    detail: dict[str, Any] | None = None     # detector-specific (rates)
    add: int = 1


@dataclass(slots=True)
class Resolution:
    """A detector says the problem is over (a rate is back to normal)."""

    kind: Kind
    cls: str
    service: str
    key: dict[str, str]
    when: float


Finding = Occurrence | Resolution


@dataclass(slots=True)
class Incident:
    id: str
    kind: Kind
    cls: str
    pattern: str | None
    severity: Severity
    service: str
    fingerprint: str
    first_seen: float
    last_seen: float
    summary: str
    fields: dict[str, str]
    runbook: RunbookJSON | None
    count: int = 1
    samples: list[str] = field(default_factory=list)
    notified_count: int = 1
    notified_at: float = 0.0
    resolved: bool = False
    detail: dict[str, Any] = field(default_factory=dict)   # detector-specific (rates)

    def event(self, name: EventName) -> IncidentEvent:
        """The incident event JSON of DESIGN.md §1."""
        return {
            "event": name, "id": self.id, "kind": self.kind, "class": self.cls,
            "pattern": self.pattern, "severity": self.severity, "service": self.service,
            "fingerprint": self.fingerprint, "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen), "count": self.count, "summary": self.summary,
            "fields": dict(self.fields), "samples": list(self.samples), "runbook": self.runbook,
        }


def fingerprint_of(kind: str, cls: str, service: str, key: Iterable[tuple[str, str]]) -> str:
    parts = [kind, cls, service, *(f"{k}={mask_ids(v)}" for k, v in sorted(key))]
    return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]


class IncidentTracker:
    """Open incidents by fingerprint, and the events their lifecycle produces."""

    def __init__(self, *, resolve_after: float, update_interval: float,
                 max_open: int = 10000) -> None:
        self.resolve_after = resolve_after
        self.update_interval = update_interval
        self.max_open = max_open
        self.open: dict[str, Incident] = {}
        self._deadlines: list[tuple[float, str]] = []

    def apply(self, finding: Finding) -> list[IncidentEvent]:
        if isinstance(finding, Occurrence):
            return self.observe(finding)
        return self.close(finding)

    def observe(self, seen: Occurrence) -> list[IncidentEvent]:
        """Count the occurrences; the events they cause (open, update, or resolve + open)."""
        fingerprint = fingerprint_of(seen.kind, seen.cls, seen.service, seen.key.items())
        events: list[IncidentEvent] = []
        when = seen.when
        incident = self.open.get(fingerprint)
        if incident is not None and when - incident.last_seen >= self.resolve_after:
            events.append(self._resolve(incident))
            incident = None
        if incident is None:
            incident = Incident(
                id=hashlib.sha1(f"{fingerprint}:{when:.3f}".encode()).hexdigest()[:16],
                kind=seen.kind, cls=seen.cls, pattern=seen.pattern, severity=seen.severity,
                service=seen.service, fingerprint=fingerprint, first_seen=when, last_seen=when,
                summary=_clip(redact(seen.summary), MAX_SUMMARY_CHARS),
                fields={k: redact(v) for k, v in (seen.fields or seen.key).items()},
                runbook=seen.runbook, notified_at=when, detail=dict(seen.detail or {}),
                count=seen.add, notified_count=seen.add)
            incident.samples.append(_clip(redact(seen.sample), MAX_SAMPLE_CHARS))
            self.open[fingerprint] = incident
            heapq.heappush(self._deadlines, (when + self.resolve_after, fingerprint))
            events.append(incident.event(EventName.OPEN))
            if len(self.open) > self.max_open:
                events.extend(self._evict())
            return events
        incident.count += seen.add
        if when > incident.last_seen:
            incident.last_seen = when
            heapq.heappush(self._deadlines, (when + self.resolve_after, fingerprint))
        if seen.severity.rank > incident.severity.rank:
            incident.severity = seen.severity
        if seen.detail:
            incident.detail.update(seen.detail)
            if seen.kind is not Kind.SIGNATURE:
                incident.summary = _clip(redact(seen.summary), MAX_SUMMARY_CHARS)
        if len(incident.samples) < MAX_SAMPLES:
            incident.samples.append(_clip(redact(seen.sample), MAX_SAMPLE_CHARS))
        if when - incident.notified_at >= self.update_interval:
            incident.notified_at = when
            incident.notified_count = incident.count
            events.append(incident.event(EventName.UPDATE))
        return events

    def close(self, over: Resolution) -> list[IncidentEvent]:
        """Resolve an incident now (a detector says the condition is over)."""
        fingerprint = fingerprint_of(over.kind, over.cls, over.service, over.key.items())
        incident = self.open.get(fingerprint)
        if incident is None:
            return []
        incident.last_seen = max(incident.last_seen, over.when)
        return [self._resolve(incident)]

    def tick(self, now: float) -> list[IncidentEvent]:
        """Resolve every incident quiet since ``now - resolve_after``."""
        events: list[IncidentEvent] = []
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            deadline, fingerprint = heapq.heappop(deadlines)
            incident = self.open.get(fingerprint)
            if incident is None or incident.last_seen + self.resolve_after != deadline:
                continue   # superseded by a later occurrence, or already resolved
            events.append(self._resolve(incident))
        return events

    def _resolve(self, incident: Incident) -> IncidentEvent:
        del self.open[incident.fingerprint]
        incident.resolved = True
        return incident.event(EventName.RESOLVE)

    def _evict(self) -> list[IncidentEvent]:
        oldest = min(self.open.values(), key=lambda i: i.last_seen)
        return [self._resolve(oldest)]

    # -- persistence (the daemon keeps open incidents across restarts) ----------------
    def snapshot(self) -> dict[str, Any]:
        return {"version": SNAPSHOT_VERSION, "incidents": [
            {"id": i.id, "kind": i.kind, "cls": i.cls, "pattern": i.pattern,
             "severity": i.severity, "service": i.service, "fingerprint": i.fingerprint,
             "first_seen": i.first_seen, "last_seen": i.last_seen, "summary": i.summary,
             "fields": i.fields, "runbook": i.runbook, "count": i.count,
             "samples": i.samples, "notified_count": i.notified_count,
             "notified_at": i.notified_at, "detail": i.detail}
            for i in self.open.values()]}

    def snapshot_services(self, services: Collection[str]) -> dict[str, Any]:
        """:meth:`snapshot` of the open incidents of ``services`` only."""
        wanted = set(services)
        whole = self.snapshot()
        whole["incidents"] = [i for i in whole["incidents"] if i["service"] in wanted]
        return whole

    def restore_services(self, data: dict[str, Any]) -> None:
        """Take back open incidents of some services, keeping their ids and fingerprints
        (so a later occurrence counts into them: no second ``open``). Where this tracker
        holds the same fingerprint, the one seen last wins. Past ``max_open``, the
        oldest are dropped silently (their owner already sent their events)."""
        restored = IncidentTracker(resolve_after=self.resolve_after,
                                   update_interval=self.update_interval)
        restored.restore(data)
        for fingerprint, incident in restored.open.items():
            mine = self.open.get(fingerprint)
            if mine is not None and mine.last_seen >= incident.last_seen:
                continue
            self.open[fingerprint] = incident
            heapq.heappush(self._deadlines,
                           (incident.last_seen + self.resolve_after, fingerprint))
        if len(self.open) > self.max_open:
            by_age = sorted(self.open.values(), key=lambda i: i.last_seen)
            for incident in by_age[: len(self.open) - self.max_open]:
                del self.open[incident.fingerprint]

    def forget_services(self, services: Collection[str]) -> None:
        """Drop the open incidents of ``services`` without an event (their new owner
        carries them on)."""
        gone = set(services)
        for fingerprint in [f for f, i in self.open.items() if i.service in gone]:
            del self.open[fingerprint]

    def restore(self, data: Any) -> None:
        """Open incidents from :meth:`snapshot` (version 0, a bare list, is read too)."""
        items = data if isinstance(data, list) else _versioned(data, "incidents")
        try:
            restored = [Incident(**{**item, "kind": Kind(item["kind"]),
                                    "severity": Severity(item["severity"])})
                        for item in items]
        except (TypeError, KeyError, ValueError) as exc:
            raise StateError(f"open incidents: {exc}") from None
        for incident in restored:
            self.open[incident.fingerprint] = incident
            heapq.heappush(self._deadlines,
                           (incident.last_seen + self.resolve_after, incident.fingerprint))


def _versioned(data: Any, key: str) -> Any:
    if not isinstance(data, dict) or data.get("version") != SNAPSHOT_VERSION:
        version = data.get("version") if isinstance(data, dict) else type(data).__name__
        raise StateError(f"unknown snapshot version {version!r}")
    return data[key]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"

"""Prometheus Alertmanager, API v2 (``POST /api/v2/alerts``).

An open incident is an alert with ``startsAt`` = first seen and an ``endsAt``
a few repeat intervals ahead; it is re-posted every ``repeat_interval`` while
open, so Alertmanager keeps it active (and lets it expire if the detector dies).
Resolving posts it once more with ``endsAt`` = when it went quiet.
Labels: ``alertname`` (the class), ``class``, ``service``, ``severity``, ``kind``
and ``fingerprint`` (one alert per incident); annotations: ``summary``,
``runbook``, ``samples``, and ``runbook_url`` when the runbook has a link.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from detector.model import IncidentEvent
from detector.notify.base import Notifier, Request

__all__ = ["AlertmanagerNotifier"]


def _rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + \
        f".{int(seconds % 1 * 1000):03d}Z"


def _seconds(stamp: str) -> float:
    from detector.decode.timestamps import parse_iso

    return parse_iso(stamp) or 0.0


class AlertmanagerNotifier(Notifier):
    type: ClassVar[str] = "alertmanager"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.endpoint = self.config.url.rstrip("/")
        if not self.endpoint.endswith("/api/v2/alerts"):
            self.endpoint += "/api/v2/alerts"
        self.refresh_interval = config.repeat_interval
        self.active: dict[str, IncidentEvent] = {}

    def alert(self, event: IncidentEvent, now: float) -> dict[str, Any]:
        book = event.get("runbook") or {}
        runbook = "\n".join([book.get("title", ""), *(f"- {s}" for s in book.get("steps", []))])
        if event["event"] == "resolve":
            ends = _seconds(event["last_seen"])
            ends = max(ends, _seconds(event["first_seen"]))
        else:
            ends = now + 4 * self.refresh_interval
        annotations = {"summary": event["summary"], "runbook": runbook.strip(),
                       "samples": "\n".join(event["samples"]),
                       "incident": event["id"], "count": str(event["count"])}
        if book.get("url"):
            annotations["runbook_url"] = book["url"]
        return {
            "labels": {"alertname": event["class"], "class": event["class"],
                       "service": event["service"], "severity": event["severity"],
                       "kind": event["kind"], "fingerprint": event["fingerprint"]},
            "annotations": annotations,
            "startsAt": event["first_seen"],
            "endsAt": _rfc3339(ends),
        }

    def request(self, event: IncidentEvent, *, key: str, now: float) -> Request:
        request = self.json_request([self.alert(event, now)])
        return Request(request.method, self.endpoint, request.body, request.headers)

    def delivered(self, event: IncidentEvent) -> None:
        if event["event"] == "resolve":
            self.active.pop(event["fingerprint"], None)
        else:
            self.active[event["fingerprint"]] = event

    def refresh(self, now: float) -> Request | None:
        if not self.active:
            return None
        request = self.json_request([self.alert(e, now) for e in self.active.values()])
        return Request(request.method, self.endpoint, request.body, request.headers)

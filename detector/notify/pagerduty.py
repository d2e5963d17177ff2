"""PagerDuty Events API v2: trigger with the fingerprint as ``dedup_key``, resolve with it.

202 is success, 400 is final (the event was invalid), 429 and 5xx are retried.
About 120 events a minute per routing key is the documented rate; payloads must
stay under 512 KB, so samples are cut to fit.
"""

from __future__ import annotations

from typing import Any, ClassVar

from detector.model import IncidentEvent
from detector.notify.base import Notifier, Request

__all__ = ["PagerDutyNotifier"]

MAX_PAYLOAD = 500_000
SUMMARY_LIMIT = 1024


class PagerDutyNotifier(Notifier):
    type: ClassVar[str] = "pagerduty"
    default_rate: ClassVar[float] = 2.0     # 120 per minute

    def request(self, event: IncidentEvent, *, key: str, now: float) -> Request:
        body = self.event(event)
        envelope = {"routing_key": self.config.routing_key or ""}
        request = self.json_request(body, envelope=envelope)
        while len(request.body) > MAX_PAYLOAD and body.get("payload", {}).get(
                "custom_details", {}).get("samples"):
            details = body["payload"]["custom_details"]
            details["samples"] = [s[: len(s) // 2] for s in details["samples"] if len(s) > 64]
            request = self.json_request(body, envelope=envelope)
        return request

    def event(self, event: IncidentEvent) -> dict[str, Any]:
        """The event without its routing key (added, unredacted, by ``request``)."""
        if event["event"] == "resolve":
            return {"event_action": "resolve", "dedup_key": event["fingerprint"]}
        summary = f"[{event['service']}] {event['summary']}"
        if len(summary) > SUMMARY_LIMIT:
            summary = summary[: SUMMARY_LIMIT - 1] + "…"
        body: dict[str, Any] = {
            "event_action": "trigger",
            "dedup_key": event["fingerprint"],
            "client": "detector",
            "payload": {
                "summary": summary,
                "source": event["service"],
                "severity": event["severity"],
                "timestamp": event["last_seen"],
                "component": event.get("pattern") or event["kind"],
                "group": event["service"],
                "class": event["class"],
                "custom_details": {
                    "incident": event["id"], "kind": event["kind"], "count": event["count"],
                    "first_seen": event["first_seen"], "last_seen": event["last_seen"],
                    "fields": event["fields"], "samples": list(event["samples"]),
                    "runbook": event.get("runbook"),
                },
            },
        }
        book = event.get("runbook") or {}
        if book.get("url"):
            body["links"] = [{"href": book["url"],
                              "text": f"Runbook: {book.get('title') or event['class']}"}]
        return body

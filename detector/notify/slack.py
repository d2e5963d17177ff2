"""Slack incoming webhooks: a readable message with Block Kit blocks.

A runbook with a link gets an "Open the runbook" button. Success is HTTP 200 with
the body ``ok``; Slack answers errors such as
``invalid_payload`` (400) or ``channel_is_archived`` (410), which are final, and
429 with ``Retry-After``. About one message a second per webhook is the limit.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from detector.errors import NotifyError
from detector.model import IncidentEvent
from detector.notify.base import Notifier, Request

__all__ = ["SlackNotifier"]

ICONS = {"critical": "🔴", "error": "🟠", "warning": "🟡", "info": "🔵"}
SECTION_LIMIT = 2900   # Slack caps section text at 3000 characters


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(stamp: str) -> str:
    return stamp.replace("T", " ").rstrip("Z").split(".")[0] + " UTC"


class SlackNotifier(Notifier):
    type: ClassVar[str] = "slack"
    default_rate: ClassVar[float] = 1.0

    def request(self, event: IncidentEvent, *, key: str, now: float) -> Request:
        return self.json_request(self.message(event))

    def message(self, event: IncidentEvent) -> dict[str, Any]:
        severity = event["severity"]
        kind = event["event"]
        icon = "✅" if kind == "resolve" else ICONS.get(severity, "⚪")
        verb = {"open": "", "update": "Still happening: ", "resolve": "Resolved: "}[kind]
        title = f"{icon} {verb}{event['summary']}"
        text = (f"{title} — {event['class']} in {event['service']}, "
                f"{event['count']}× since {_when(event['first_seen'])}")
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": _clip(title, 150),
                                        "emoji": True}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": f"*Severity*\n{severity}"},
                {"type": "mrkdwn", "text": f"*Service*\n{event['service']}"},
                {"type": "mrkdwn", "text": f"*Class*\n`{event['class']}` ({event['kind']})"},
                {"type": "mrkdwn", "text": f"*Count*\n{event['count']}"},
                {"type": "mrkdwn", "text": f"*First seen*\n{_when(event['first_seen'])}"},
                {"type": "mrkdwn", "text": f"*Last seen*\n{_when(event['last_seen'])}"},
            ]},
        ]
        if event["samples"] and kind != "resolve":
            sample = "\n".join(event["samples"]).replace("```", "'''")
            blocks.append({"type": "section", "text": {
                "type": "mrkdwn", "text": "```" + _clip(sample, SECTION_LIMIT - 6) + "```"}})
        book = event.get("runbook")
        if book and kind != "resolve":
            steps = "\n".join(f"{n}. {s}" for n, s in
                              enumerate(book.get("steps", [])[:3], start=1))
            title = book.get("title", "Runbook")
            if book.get("url"):
                title = f"<{book['url']}|{title}>"
            blocks.append({"type": "section", "text": {
                "type": "mrkdwn", "text": _clip(f"*Runbook: {title}*\n{steps}".strip(),
                                                SECTION_LIMIT)}})
            if book.get("url"):
                blocks.append({"type": "actions", "elements": [{
                    "type": "button", "text": {"type": "plain_text", "text": "Open the runbook"},
                    "url": book["url"]}]})
        blocks.append({"type": "context", "elements": [{
            "type": "mrkdwn", "text": f"incident `{event['id']}` · pattern "
                                      f"`{event.get('pattern') or event['kind']}`"}]})
        return {"text": _clip(text, 3000), "blocks": blocks}

    def check(self, response: httpx.Response) -> None:
        if response.status_code == 200:
            if response.text.strip() == "ok":
                return
            raise NotifyError(f"slack answered 200 but not ok: {response.text[:200]}",
                              retryable=False, status=200, response=response.text[:2000])
        raise self.failure(response)

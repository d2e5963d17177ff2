"""Each notifier's payload, exactly as its destination documents it, and routing."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import httpx
import orjson
import pytest

from detector.config import NotifyConfig
from detector.errors import NotifyError
from detector.notify.alertmanager import AlertmanagerNotifier
from detector.notify.base import event_key, parse_retry_after
from detector.notify.pagerduty import PagerDutyNotifier
from detector.notify.slack import SlackNotifier
from detector.notify.webhook import WebhookNotifier, sign


def incident(event: str = "open", **changes: Any) -> dict[str, Any]:
    base = {
        "event": event, "id": "5b7e0c1d2f3a4b6c", "kind": "signature", "class": "lock_timeout",
        "pattern": "redis.lock_error", "severity": "error", "service": "worker-sync",
        "fingerprint": "8d1f2e3c4b5a6978", "first_seen": "2026-11-20T12:40:00Z",
        "last_seen": "2026-11-20T12:45:00Z", "count": 31,
        "summary": "Redis lock lock:smart_bot:ff7379 not acquired",
        "fields": {"lock": "lock:smart_bot:ff7379"},
        "samples": ["2026-11-20 12:40:00,431 ERROR redis.exceptions.LockError: Unable to "
                    "acquire lock on lock:smart_bot:ff7379 after 10 seconds password=hunter2"],
        "runbook": {"title": "Redis lock timeout", "steps": ["List locks.", "TTL.", "DEL.", "Prevent."]},
    }
    base.update(changes)
    return base


def config(kind: str, **changes: Any) -> NotifyConfig:
    values: dict[str, Any] = {"type": kind, "name": kind, "url": "http://127.0.0.1:9/x"}
    if kind == "pagerduty":
        values["routing_key"] = "R0UT1NGKEY0000000000000000000000"
    values.update(changes)
    return NotifyConfig(**values)


def body(request: Any) -> Any:
    return orjson.loads(request.body)


def test_slack_message_has_text_and_blocks() -> None:
    message = body(SlackNotifier(config("slack")).request(incident(), key="k", now=0))
    assert message["text"].startswith("🟠 Redis lock lock:smart_bot:ff7379 not acquired")
    header, fields, sample, runbook, context = message["blocks"]
    assert header["type"] == "header" and len(header["text"]["text"]) <= 150
    assert {f["text"].split("\n")[0] for f in fields["fields"]} == {
        "*Severity*", "*Service*", "*Class*", "*Count*", "*First seen*", "*Last seen*"}
    assert sample["text"]["text"].startswith("```") and "hunter2" not in sample["text"]["text"]
    assert runbook["text"]["text"].count("\n") == 3          # title + the first three steps
    assert "5b7e0c1d2f3a4b6c" in context["elements"][0]["text"]
    resolved = body(SlackNotifier(config("slack")).request(incident("resolve"), key="k", now=0))
    assert resolved["text"].startswith("✅ Resolved:")


def test_slack_success_is_200_ok_only() -> None:
    notifier = SlackNotifier(config("slack"))
    notifier.check(httpx.Response(200, text="ok"))
    with pytest.raises(NotifyError) as failed:
        notifier.check(httpx.Response(404, text="channel_not_found"))
    assert not failed.value.retryable and failed.value.response == "channel_not_found"
    with pytest.raises(NotifyError):
        notifier.check(httpx.Response(200, text="invalid_payload"))


def test_pagerduty_trigger_and_resolve_share_the_fingerprint() -> None:
    notifier = PagerDutyNotifier(config("pagerduty"))
    trigger = body(notifier.request(incident(), key="k", now=0))
    assert trigger["event_action"] == "trigger"
    assert trigger["dedup_key"] == "8d1f2e3c4b5a6978"
    assert trigger["routing_key"] == "R0UT1NGKEY0000000000000000000000"
    payload = trigger["payload"]
    assert set(payload) == {"summary", "source", "severity", "timestamp", "component", "group",
                            "class", "custom_details"}
    assert payload["severity"] in ("critical", "error", "warning", "info")
    assert payload["custom_details"]["runbook"]["title"] == "Redis lock timeout"
    assert "hunter2" not in str(payload)
    resolve = body(notifier.request(incident("resolve"), key="k", now=0))
    assert resolve == {"routing_key": "R0UT1NGKEY0000000000000000000000",
                       "event_action": "resolve", "dedup_key": "8d1f2e3c4b5a6978"}


def test_pagerduty_limits_summary_and_payload_size() -> None:
    notifier = PagerDutyNotifier(config("pagerduty"))
    big = incident(summary="x" * 5000, samples=["y" * 400_000, "z" * 400_000])
    request = notifier.request(big, key="k", now=0)
    assert len(request.body) < 512 * 1024
    assert len(body(request)["payload"]["summary"]) <= 1024


def test_alertmanager_alert_labels_annotations_and_times() -> None:
    notifier = AlertmanagerNotifier(config("alertmanager", url="http://am:9093",
                                           repeat_interval=60.0))
    request = notifier.request(incident(), key="k", now=1795179600.0)
    assert request.url == "http://am:9093/api/v2/alerts"
    (alert,) = body(request)
    assert alert["labels"] == {"alertname": "lock_timeout", "class": "lock_timeout",
                               "service": "worker-sync", "severity": "error",
                               "kind": "signature", "fingerprint": "8d1f2e3c4b5a6978"}
    assert {"summary", "runbook", "samples"} <= set(alert["annotations"])
    assert alert["startsAt"] == "2026-11-20T12:40:00Z"
    assert alert["endsAt"] == "2026-11-20T13:04:00.000Z"     # now + 4 × repeat_interval
    (resolved,) = body(notifier.request(incident("resolve"), key="k", now=1795178000.0))
    assert resolved["endsAt"] == "2026-11-20T12:45:00.000Z"


def test_alertmanager_keeps_open_alerts_for_refresh() -> None:
    notifier = AlertmanagerNotifier(config("alertmanager"))
    assert notifier.refresh(0.0) is None
    notifier.delivered(incident())
    assert len(body(notifier.refresh(0.0))) == 1  # type: ignore[arg-type]
    notifier.delivered(incident("resolve"))
    assert notifier.refresh(0.0) is None


def test_webhook_body_is_the_event_and_the_signature_verifies() -> None:
    notifier = WebhookNotifier(config("webhook", secret="s3cr3t", headers={"X-Team": "ops"}))
    event = incident()
    request = notifier.request(event, key=event_key(event), now=1795178000.9)
    sent = body(request)
    assert sent["id"] == event["id"] and set(sent) == set(event)
    assert "hunter2" not in request.body.decode()
    headers = request.headers
    assert headers["X-Detector-Timestamp"] == "1795178000"
    assert headers["X-Detector-Event-Id"] == "5b7e0c1d2f3a4b6c-open-31"
    expected = hmac.new(b"s3cr3t", b"1795178000." + request.body, hashlib.sha256).hexdigest()
    assert headers["X-Detector-Signature"] == f"sha256={expected}"
    assert headers["X-Team"] == "ops"
    assert sign("s3cr3t", "1795178000", request.body) == headers["X-Detector-Signature"]


@pytest.mark.parametrize(("status", "retryable"), [
    (400, False), (401, False), (404, False), (408, True), (429, True), (500, True), (503, True)])
def test_what_an_answer_means(status: int, retryable: bool) -> None:
    with pytest.raises(NotifyError) as failed:
        WebhookNotifier(config("webhook")).check(httpx.Response(status, text="nope"))
    assert failed.value.retryable is retryable
    assert failed.value.status == status


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("30") == 30.0
    assert parse_retry_after("Fri, 20 Nov 2026 12:00:30 GMT", now=1795176000.0) == 30.0
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(("changes", "event", "accepted"), [
    ({}, incident(), True),
    ({"min_severity": "critical"}, incident(), False),
    ({"min_severity": "critical"}, incident(severity="critical"), True),
    ({"kinds": ("rate_spike",)}, incident(), False),
    ({"events": ("open", "resolve")}, incident("update"), False),
    ({"classes": ("deadlock",)}, incident(), False),
    ({"exclude_classes": ("lock_timeout",)}, incident(), False),
    ({"services": ("worker-*",)}, incident(), True),
    ({"services": ("api",)}, incident(), False),
    ({"exclude_services": ("worker-*",)}, incident(), False),
])
def test_routing(changes: dict[str, Any], event: dict[str, Any], accepted: bool) -> None:
    assert WebhookNotifier(config("webhook", **changes)).accepts(event) is accepted

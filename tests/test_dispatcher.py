"""Delivery through the outbox against real HTTP receivers on loopback."""

from __future__ import annotations

import asyncio
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
from receivers import Answer, Receiver
from test_notifiers import config, incident

from detector.decode.timestamps import parse_iso
from detector.notify import build_notifiers
from detector.notify.dispatcher import Dispatcher, TokenBucket
from detector.notify.outbox import Outbox
from detector.retry import backoff
from detector.telemetry.metrics import Registry

SUCCESS = {"slack": Answer(200, b"ok"),
           "pagerduty": Answer(202, b'{"status":"success","message":"Event processed"}'),
           "alertmanager": Answer(200, b""), "webhook": Answer(204, b"")}


def dispatcher(tmp_path: Path, kind: str, url: str, **changes: Any) -> Dispatcher:
    notifiers = build_notifiers([config(kind, url=url, rate_limit=1000.0, **changes)])
    return Dispatcher(notifiers, Outbox(tmp_path / "outbox.sqlite3"), Registry(),
                      backoff_base=0.05, backoff_cap=0.2, idle_poll=0.05)


def identity(kind: str, request: Any) -> Any:
    """What makes a request the same notification (alertmanager refreshes endsAt)."""
    if kind == "alertmanager":
        return [(a["labels"], a["startsAt"], a["annotations"]["count"],
                 (parse_iso(a["endsAt"]) or 0) < request.at)          # resolved?
                for a in request.json()]
    return request.body


async def deliver(d: Dispatcher, *events: dict[str, Any], within: float = 20.0) -> None:
    for event in events:
        d.enqueue(event)
    async with d:
        async with asyncio.timeout(within):
            await d.drain()


@pytest.mark.parametrize("kind", ["slack", "pagerduty", "alertmanager", "webhook"])
async def test_every_notifier_retries_through_503s_and_delivers_once(tmp_path: Path,
                                                                     kind: str) -> None:
    script = [Answer(503, b"busy"), Answer(503, b"busy"), SUCCESS[kind]]
    with Receiver(default=SUCCESS[kind], script=script) as receiver:
        d = dispatcher(tmp_path, kind, receiver.url)
        await deliver(d, incident(), incident("resolve"))
        requests = receiver.wait_for(4)
    assert receiver.answered[:3] == [503, 503, SUCCESS[kind].status]
    first, retry1, retry2, resolve = requests
    assert identity(kind, first) == identity(kind, retry1) == identity(kind, retry2)
    assert b"hunter2" not in first.body                         # redacted on the way out
    assert identity(kind, resolve) != identity(kind, first)     # open before resolve
    assert d.outbox.pending() == 0
    assert d.sent.value(destination=kind) == 2
    assert d.retried.value(destination=kind) == 2


async def test_retry_after_seconds_is_honoured(tmp_path: Path) -> None:
    script = [Answer(429, b"slow down", {"Retry-After": "1"}), Answer(200, b"")]
    with Receiver(script=script) as receiver:
        await deliver(dispatcher(tmp_path, "webhook", receiver.url), incident())
        first, second = receiver.wait_for(2)
    assert second.at - first.at >= 1.0


async def test_retry_after_http_date_is_honoured(tmp_path: Path) -> None:
    when = formatdate(time.time() + 3, usegmt=True)   # whole seconds: at least ~2 s ahead
    script = [Answer(503, b"", {"Retry-After": when}), Answer(200, b"")]
    with Receiver(script=script) as receiver:
        await deliver(dispatcher(tmp_path, "webhook", receiver.url), incident())
        first, second = receiver.wait_for(2)
    assert second.at - first.at >= 1.0


async def test_400_becomes_a_dead_letter_with_the_answer_kept(tmp_path: Path) -> None:
    answer = Answer(400, b'{"status":"invalid event","errors":["\'payload\' is missing"]}')
    with Receiver(script=[answer], default=SUCCESS["pagerduty"]) as receiver:
        d = dispatcher(tmp_path, "pagerduty", receiver.url)
        await deliver(d, incident(), incident("resolve"))
        receiver.wait_for(2)
    (dead,) = d.outbox.items(state="dead")
    assert dead.payload["event"] == "open"
    assert "invalid event" in (dead.response or "")
    assert d.dead.value(destination="pagerduty") == 1
    assert d.sent.value(destination="pagerduty") == 1        # the queue went on


async def test_a_hanging_receiver_times_out_and_is_retried(tmp_path: Path) -> None:
    with Receiver(script=[Answer(200, b"", delay=3.0)]) as receiver:
        d = dispatcher(tmp_path, "webhook", receiver.url, timeout=0.5)
        await deliver(d, incident())
        first, second = receiver.wait_for(2)
    assert second.headers["x-detector-event-id"] == first.headers["x-detector-event-id"]
    assert d.retried.value(destination="webhook") == 1
    assert d.outbox.pending() == 0


async def test_replacing_notifiers_lets_a_request_in_flight_finish(tmp_path: Path) -> None:
    with Receiver(script=[Answer(204, b"", delay=1.0)]) as old, Receiver() as new:
        d = dispatcher(tmp_path, "webhook", old.url, timeout=5.0)
        d.enqueue(incident())
        async with d:
            await asyncio.to_thread(old.wait_for, 1)            # the request is in flight
            await d.replace(build_notifiers([config("webhook", url=new.url)]))
            d.enqueue(incident("resolve"))
            async with asyncio.timeout(10):
                await d.drain()
        assert [r.json()["event"] for r in new.requests] == ["resolve"]   # open not resent
        assert len(old.requests) == 1
    assert d.sent.value(destination="webhook") == 2


async def test_draining_a_busy_outbox_stops_at_its_deadline(tmp_path: Path) -> None:
    with Receiver(default=Answer(204, b"", delay=0.05)) as receiver:  # all: ≥ 25 s
        d = dispatcher(tmp_path, "webhook", receiver.url)
        for n in range(500):
            d.enqueue(incident(id=f"i{n}"))
        async with d:
            started = time.monotonic()
            drained = await d.drain(within=1.0)
            took = time.monotonic() - started
            assert not drained and 1.0 <= took < 10.0       # delivery went on all along
            assert 0 < d.sent.value(destination="webhook") < 500


async def test_an_unreachable_destination_is_retried_not_lost(tmp_path: Path) -> None:
    with Receiver() as receiver:
        unreachable = receiver.url.rsplit(":", 1)[0] + ":9"      # discard port: refused
    d = dispatcher(tmp_path, "webhook", unreachable)
    d.enqueue(incident())
    async with d:
        await asyncio.sleep(0.5)
    (item,) = d.outbox.items()
    assert item.state == "pending" and item.attempts >= 2
    assert "ConnectError" in (item.last_error or "")


async def test_items_older_than_max_age_become_dead_letters(tmp_path: Path) -> None:
    with Receiver(default=Answer(503, b"")) as receiver:
        d = dispatcher(tmp_path, "webhook", receiver.url, max_age=1.0)
        await deliver(d, incident(), within=10)
    (dead,) = d.outbox.items(state="dead")
    assert "max_age" in (dead.last_error or "")


async def test_routing_decides_who_gets_what(tmp_path: Path) -> None:
    with Receiver() as critical, Receiver() as everything:
        notifiers = build_notifiers([
            config("webhook", name="pager", url=critical.url, min_severity="critical"),
            config("webhook", name="log", url=everything.url, min_severity="info")])
        d = Dispatcher(notifiers, Outbox(tmp_path / "o.sqlite3"), Registry(), idle_poll=0.05)
        await deliver(d, incident(), incident(id="c2", severity="critical"))
        assert [r.json()["id"] for r in everything.wait_for(2)] == ["5b7e0c1d2f3a4b6c", "c2"]
        assert [r.json()["id"] for r in critical.wait_for(1)] == ["c2"]


def test_token_bucket_spaces_requests() -> None:
    now = [100.0]
    bucket = TokenBucket(2.0, clock=lambda: now[0])
    assert [bucket.delay(), bucket.delay(), bucket.delay()] == [0.0, 0.5, 1.0]
    now[0] = 110.0
    assert bucket.delay() == 0.0
    assert TokenBucket(0.0).delay() == 0.0


def test_backoff_is_exponential_with_full_jitter() -> None:
    def highest(low: float, high: float) -> float:
        return high

    assert [backoff(n, 1.0, 300.0, highest) for n in range(10)] == [
        1, 2, 4, 8, 16, 32, 64, 128, 256, 300]
    assert backoff(3, 1.0, 300.0, lambda low, high: low) == 0.0


def test_metrics_show_depth_and_age(tmp_path: Path) -> None:
    registry = Registry()
    now = [1000.0]
    d = Dispatcher(build_notifiers([config("webhook")]), Outbox(tmp_path / "o.sqlite3"),
                   registry, clock=lambda: now[0])
    d.enqueue(incident())
    now[0] = 1042.0
    text = registry.render()
    assert 'detector_outbox_depth{destination="webhook",state="pending"} 1' in text
    assert 'detector_outbox_oldest_seconds{destination="webhook"} 42' in text


async def test_an_unusable_url_is_a_dead_letter_and_the_worker_goes_on(tmp_path: Path) -> None:
    """A URL that passed no validation (an older outbox, a broken environment) must not kill
    the destination's worker: that item is dead-lettered, the next is delivered."""
    with Receiver() as receiver:
        outbox = Outbox(tmp_path / "o.sqlite3")
        broken = build_notifiers([config("webhook", url=f"{receiver.url}/hook\n")])
        d = Dispatcher(broken, outbox, Registry(), idle_poll=0.05)
        async with d:
            d.enqueue(incident(id="a" * 16))
            assert await d.drain(within=10)
            await d.replace(build_notifiers([config("webhook", url=f"{receiver.url}/hook")]))
            d.enqueue(incident(id="b" * 16))
            assert await d.drain(within=10)
        (dead,) = outbox.items(state="dead")
        assert "unusable" in (dead.last_error or "")
        assert [r.json()["id"] for r in receiver.requests] == ["b" * 16]
        outbox.close()

"""Loki: the nanosecond cursor, tenants, labels, and an unhappy server."""

from __future__ import annotations

import asyncio
import time

from fake_loki import FakeLoki
from test_sources_contract import running

from detector.config import LokiSourceConfig
from detector.sources.loki import LokiSource
from detector.telemetry.metrics import Registry


def loki_source(loki: FakeLoki, **changes: object) -> LokiSource:
    values: dict[str, object] = {"type": "loki", "name": "loki", "url": loki.url,
                                 "query": '{app="api"}', "poll_interval": 0.05,
                                 "start_at": "beginning"}
    values.update(changes)
    return LokiSource(LokiSourceConfig(**values), Registry())  # type: ignore[arg-type]


async def test_entries_sharing_the_cursor_nanosecond_are_handed_over_once() -> None:
    with FakeLoki() as loki:
        now = time.time_ns()
        loki.push(now, {"app": "api"}, "a")
        loki.push(now, {"app": "api"}, "b")
        async with running(loki_source(loki, limit=10)) as collector:
            await collector.wait_for(2)
            loki.push(now, {"app": "api"}, "c")             # late arrival at the same ns
            loki.push(now + 5, {"app": "api"}, "d")
            got = await collector.wait_for(4)
            await asyncio.sleep(0.3)               # nothing more arrives
    assert [line.split(" ", 1)[1] for line in collector.lines()] == ["a", "b", "c", "d"]
    assert len(got) == 4
    assert all(q["direction"] == "forward" for q in loki.queries)


async def test_service_comes_from_labels_and_the_tenant_header_is_sent() -> None:
    with FakeLoki(tenant="team-a") as loki:
        loki.push(time.time_ns(), {"app": "api", "container": "web-7", "service_name": "billing"},
                  "hello")
        async with running(loki_source(loki, tenant="team-a")) as collector:
            await collector.wait_for(1)
    assert collector.batches[0].origin.service == "billing"      # service_name comes first


async def test_429_500_and_answers_that_are_not_json_are_survived() -> None:
    with FakeLoki() as loki:
        loki.faults.extend([(429, {"Retry-After": "1"}, b"too many outstanding requests"),
                            (500, {}, b"internal error"),
                            (200, {"Content-Type": "text/html"}, b"<html>proxy error</html>")])
        loki.push(time.time_ns(), {"app": "api"}, "eventually")
        source = loki_source(loki)
        async with running(source) as collector:
            (line,) = await collector.wait_for(1, within=60)
    assert line.endswith("eventually")
    kinds = {dict(labels)["kind"] for labels, _ in source.errors.samples()}
    assert kinds == {"http", "decode"}
    assert source.health.ok


async def test_a_request_that_hangs_is_abandoned_at_its_timeout_and_retried() -> None:
    with FakeLoki() as loki:
        loki.faults.append((0, {}, b"120"))                 # held unanswered for 2 minutes
        loki.push(time.time_ns(), {"app": "api"}, "after the hang")
        source = loki_source(loki, timeout=0.5)
        async with running(source) as collector:
            (line,) = await collector.wait_for(1, within=30)  # long before the server gives up
    assert line.endswith("after the hang")
    assert {dict(labels)["kind"] for labels, _ in source.errors.samples()} == {"request"}
    assert source.health.ok


async def test_a_crowded_nanosecond_does_not_stall_the_source() -> None:
    with FakeLoki() as loki:
        now = time.time_ns()
        for n in range(5):
            loki.push(now, {"app": "api"}, f"same instant {n}")
        loki.push(now + 1, {"app": "api"}, "next instant")
        async with running(loki_source(loki, limit=3)) as collector:
            got = await collector.wait_for(4, within=30)
    assert got[-1].endswith("next instant")

"""A real Alertmanager (Debian's prometheus-alertmanager) receiving our alerts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from components import start_alertmanager
from receivers import Receiver
from test_dispatcher import dispatcher
from test_notifiers import incident

from detector.incidents import iso


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[tuple[str, Receiver]]:
    with Receiver() as routed:
        process, url = start_alertmanager(tmp_path, f"{routed.url}/hook")
        try:
            yield url, routed
        finally:
            process.terminate()
            process.wait(10)


async def alerts_of(url: str, **params: str) -> list[dict]:  # type: ignore[type-arg]
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{url}/api/v2/alerts", params=params)).json()  # type: ignore[no-any-return]


def routed_statuses(receiver: Receiver) -> list[tuple[str, str]]:
    return [(r.json()["status"], r.json()["alerts"][0]["labels"]["fingerprint"])
            for r in receiver.requests]


async def test_alerts_appear_are_routed_and_resolve(tmp_path: Path,
                                                    alertmanager: tuple[str, Receiver]) -> None:
    url, routed = alertmanager
    now = time.time()
    opened = incident(first_seen=iso(now - 60), last_seen=iso(now - 5))
    d = dispatcher(tmp_path, "alertmanager", url, repeat_interval=30.0)
    d.enqueue(opened)
    async with d:
        async with asyncio.timeout(20):
            await d.drain()

    alerts = await alerts_of(url)
    (alert,) = alerts
    assert alert["labels"] == {"alertname": "lock_timeout", "class": "lock_timeout",
                               "service": "worker-sync", "severity": "error",
                               "kind": "signature", "fingerprint": "8d1f2e3c4b5a6978"}
    assert alert["annotations"]["summary"] == "Redis lock lock:smart_bot:ff7379 not acquired"
    assert alert["annotations"]["runbook"].startswith("Redis lock timeout")
    assert "hunter2" not in alert["annotations"]["samples"]
    assert alert["status"]["state"] == "active"
    await asyncio.to_thread(routed.wait_for, 1, 30)
    assert routed_statuses(routed)[0] == ("firing", "8d1f2e3c4b5a6978")

    resolved = incident("resolve", first_seen=iso(now - 60), last_seen=iso(now - 5))
    d2 = dispatcher(tmp_path, "alertmanager", url)
    d2.enqueue(resolved)
    async with d2:
        async with asyncio.timeout(20):
            await d2.drain()
    await asyncio.to_thread(routed.wait_for, 2, 30)
    assert routed_statuses(routed)[-1] == ("resolved", "8d1f2e3c4b5a6978")
    assert await alerts_of(url, active="true") == []


async def test_open_alerts_are_reposted_so_they_stay_active(
        tmp_path: Path, alertmanager: tuple[str, Receiver]) -> None:
    url, _ = alertmanager
    now = time.time()
    d = dispatcher(tmp_path, "alertmanager", url, repeat_interval=1.0)
    d.enqueue(incident(first_seen=iso(now - 60), last_seen=iso(now)))
    async with d:
        async with asyncio.timeout(20):
            await d.drain()
        first_end = (await alerts_of(url))[0]["endsAt"]
        await asyncio.sleep(2.5)                 # two refreshes
        later_end = (await alerts_of(url))[0]["endsAt"]
    assert later_end > first_end                  # kept alive, pushed forward

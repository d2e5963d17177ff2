"""Learned state follows Kafka partitions: two ``detector run`` processes in one group
against Tansu, services produced as record keys; one is killed with ``kill -9``, and the
survivor carries on its services as the dead one would have — no new grace period, no
second ``open`` for an incident that was already open."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from components import start_tansu
from receivers import Receiver
from test_daemon import Daemon, stamp
from test_kafka_source import PARTITIONS, assignment, cleanup, new_topic, wait_until

from detector.sources.kafka_state import StateTopic

SERVICES = [f"svc-{n}" for n in range(PARTITIONS)]       # svc-N lives in partition N
LINE = ("{stamp} ERROR redis.exceptions.LockError: Unable to acquire lock on "
        "lock:bot:ab12cd34 after 10 seconds (password=hunter2)")
# Learning is made fast (1 s windows) and the grace period long enough that a process
# which had to learn a service afresh could not flag a burst right after it took over.
DETECT = """[detect]
rates = true
lateness = "2s"
bucket = "1s"
rate_window = "1s"
rate_scales = ["5s"]
rate_half_life = "60s"
rate_grace = "45s"
resolve_after = "10m"
novelty_warmup = "10m"
"""
WARM_UP = 55.0             # seconds of steady traffic: past the grace period and its lag
BURST = 80                 # lines at once, against a baseline of 2 a second


@pytest.fixture(scope="module")
def tansu() -> Iterator[str]:
    process, bootstrap = start_tansu()
    try:
        yield bootstrap
    finally:
        process.kill()
        process.wait(10)


class Traffic:
    """Two lines a second for every service, keyed by the service; a burst on demand."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.stop = threading.Event()
        self.bursts: list[str] = []
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=5)
        await producer.start()
        try:
            while not self.stop.is_set():
                sends = [(service, 1) for service in SERVICES]
                while self.bursts:
                    sends.append((self.bursts.pop(), BURST))
                for service, count in sends:
                    for _ in range(count):
                        await producer.send(self.topic, LINE.format(stamp=stamp()).encode(),
                                            key=service.encode(),
                                            partition=SERVICES.index(service))
                await producer.flush()
                await asyncio.sleep(0.5)
        finally:
            await producer.stop()

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)


def group_daemon(tmp: Path, webhook: str, bootstrap: str, topic: str) -> Daemon:
    tmp.mkdir(exist_ok=True)
    daemon = Daemon(tmp, webhook, source=f"""[[source]]
type = "kafka"
name = "bus"
brokers = ["{bootstrap}"]
topics = ["{topic}"]
group_id = "detectors-{topic}"
start_at = "beginning"
""")
    daemon.config.write_text(daemon.config.read_text().replace("[detect]\nrates = false\n",
                                                                DETECT))
    return daemon


def state_records(bootstrap: str) -> dict[str, bytes]:
    async def read() -> dict[str, bytes]:
        async with StateTopic((bootstrap,), "detector-state", "test") as topic:
            return await topic.read()
    return asyncio.run(read())


def restored(daemon: Daemon) -> set[str]:
    """The partitions whose state the process has taken over from the state topic."""
    return {str(p) for e in daemon.logged() if e["event"] == "kafka.state_restored"
            for p in e["partitions"]}  # type: ignore[attr-defined]


@pytest.mark.slow
def test_after_a_kill_9_the_survivor_carries_on_the_dead_ones_services(
        tansu: str, tmp_path: Path) -> None:
    topic = new_topic(tansu, "moving")
    with Receiver() as hook:
        first = group_daemon(tmp_path / "a", f"{hook.url}/hook", tansu, topic)
        second = group_daemon(tmp_path / "b", f"{hook.url}/hook", tansu, topic)
        with cleanup(first, second):
            first.start()
            wait_until(lambda: len(assignment(first)) == PARTITIONS, 60, "first assignment")
            second.start()
            wait_until(lambda: assignment(first) and assignment(second)
                       and not assignment(first) & assignment(second)
                       and len(assignment(first) | assignment(second)) == PARTITIONS,
                       90, "the group did not rebalance over both processes")
            with Traffic(tansu, topic) as traffic:
                time.sleep(WARM_UP)                       # both learn their services
                theirs = sorted(assignment(first))
                moved = [SERVICES[int(p.rsplit(":", 1)[1])] for p in theirs]
                first.kill()                              # kill -9, mid-stream
                wait_until(lambda: set(theirs) <= assignment(second), 90,
                           "the survivor was not given the dead one's partitions")
                assert set(theirs) <= restored(second)        # their state, before a record
                earlier = events(hook, "open")
                traffic.bursts.append(moved[0])
                wait_until(lambda: any(e["kind"] == "rate_spike" and e["service"] == moved[0]
                                       for e in events(hook, "open")), 60,
                           f"no rate spike flagged for {moved[0]} after it moved")
                time.sleep(3)                             # what else the burst would cause
            assert second.stop() == 0
    # the survivor judged the burst against the baseline the dead one had learned
    (spike,) = [e for e in events(hook, "open")
                if e["kind"] == "rate_spike" and e["service"] == moved[0]]
    assert float(spike["fields"]["baseline_per_min"]) > 60, spike["fields"]
    assert not [e for e in earlier if e["kind"] == "rate_spike"]      # no false alarm before
    # one open per service's lock incident, whichever process sent it: none after the move
    for service in SERVICES:
        ids = {e["id"] for e in events(hook, "open")
               if e["kind"] == "signature" and e["service"] == service}
        assert len(ids) == 1, (service, ids)
        assert all(e["id"] in ids for e in events(hook, "update", "resolve")
                   if e["kind"] == "signature" and e["service"] == service)
    assert not [e for e in events(hook, "open")[len(earlier):] if e["kind"] == "signature"]
    # the state topic holds one versioned record per partition, secrets redacted
    records = state_records(tansu)
    assert sorted(k for k in records if k.startswith(f"{topic}:")) == [
        f"{topic}:{n}" for n in range(PARTITIONS)]
    for n in range(PARTITIONS):
        record = orjson.loads(records[f"{topic}:{n}"])
        assert (record["version"], record["services"]) == (1, [SERVICES[n]])
        assert set(record["state"]) == {"incidents", "rates", "novelty"}
    assert not any(b"hunter2" in value for value in records.values())
    assert any(b"password=***" in value for value in records.values())


def events(hook: Receiver, *names: str) -> list[dict[str, Any]]:
    return [r.json() for r in hook.requests if r.json()["event"] in names]

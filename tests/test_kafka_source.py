"""Kafka in production: detector processes in one consumer group against Tansu.

Offsets are committed only after a record's incident events are in the outbox, so
a ``kill -9`` re-delivers and never skips; several processes in a group share the
partitions; a full queue pauses the partitions instead of buffering.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from components import create_topic
from receivers import Receiver
from test_daemon import LOCK, Daemon, opened, stamp
from test_sources_contract import running

from detector.config import KafkaSourceConfig
from detector.sources.kafka import KafkaSource
from detector.telemetry.metrics import Registry

PARTITIONS = 4


def new_topic(bootstrap: str, name: str) -> str:
    asyncio.run(create_topic(bootstrap, name, PARTITIONS))
    return name


def produce(bootstrap: str, topic: str, first: int, count: int, pause: float = 0.0) -> None:
    """Lock timeouts lock:job:first.. spread over the partitions, keyed by service."""
    from aiokafka import AIOKafkaProducer

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for n in range(first, first + count):
                line = LOCK.format(stamp=stamp(), n=n).replace(" [worker-sync]", "")
                await producer.send_and_wait(topic, line.encode(), key=b"worker-sync",
                                             partition=n % PARTITIONS)
                if pause:
                    await asyncio.sleep(pause)
        finally:
            await producer.stop()

    asyncio.run(send())


def kafka_daemon(tmp: Path, webhook: str, bootstrap: str, topic: str) -> Daemon:
    tmp.mkdir(exist_ok=True)
    return Daemon(tmp, webhook, source=f"""[[source]]
type = "kafka"
name = "bus"
brokers = ["{bootstrap}"]
topics = ["{topic}"]
group_id = "detectors-{topic}"
start_at = "beginning"
""")


@contextlib.contextmanager
def cleanup(*daemons: Daemon) -> Iterator[None]:
    try:
        yield
    finally:
        for running_daemon in daemons:
            if running_daemon.process is not None and running_daemon.process.poll() is None:
                running_daemon.process.kill()
                running_daemon.process.wait(10)


def assignment(daemon: Daemon) -> set[str]:
    """The partitions the process holds now (its last assignment)."""
    events = [e for e in daemon.logged() if e["event"] == "kafka.assigned"]
    return set(events[-1]["partitions"]) if events else set()  # type: ignore[arg-type]


def lines_read(daemon: Daemon) -> int:
    metrics = httpx.get(daemon.url("/metrics")).text
    prefix = 'detector_source_lines_total{source="bus"} '
    return next((int(float(line[len(prefix):])) for line in metrics.splitlines()
                 if line.startswith(prefix)), 0)


def wait_until(condition: object, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not condition():  # type: ignore[operator]
        assert time.time() < deadline, what
        time.sleep(0.2)


def start_group(first: Daemon, second: Daemon) -> None:
    """Start one process, let it take every partition, then a second: they share them."""
    first.start()
    wait_until(lambda: len(assignment(first)) == PARTITIONS, 60, "first assignment")
    second.start()
    wait_until(lambda: assignment(first) and assignment(second)
               and not assignment(first) & assignment(second)
               and len(assignment(first) | assignment(second)) == PARTITIONS,
               90, "the group did not rebalance over both processes")


def locks(hook: Receiver) -> set[str]:
    return {str(e["fields"]["lock"]) for e in opened(hook)}  # type: ignore[index]


def test_two_processes_in_one_group_share_the_partitions(tansu: str, tmp_path: Path) -> None:
    topic = new_topic(tansu, "shared")
    with Receiver() as hook:
        first = kafka_daemon(tmp_path / "a", f"{hook.url}/hook", tansu, topic)
        second = kafka_daemon(tmp_path / "b", f"{hook.url}/hook", tansu, topic)
        with cleanup(first, second):
            start_group(first, second)
            produce(tansu, topic, 0, 40)
            wait_until(lambda: len(locks(hook)) == 40, 60, "not every line became an incident")
            counts = lines_read(first), lines_read(second)
            assert first.stop() == 0 and second.stop() == 0
    assert sum(counts) == 40 and min(counts) > 0           # each line read once, by one of them
    assert locks(hook) == {f"lock:job:{n}" for n in range(40)}


@pytest.mark.slow
def test_kill_9_re_delivers_what_was_not_committed_and_skips_nothing(tansu: str,
                                                                     tmp_path: Path) -> None:
    topic = new_topic(tansu, "crashy")
    total = 150
    with Receiver() as hook:
        daemon = kafka_daemon(tmp_path, f"{hook.url}/hook", tansu, topic)
        with cleanup(daemon):
            daemon.start()
            wait_until(lambda: len(assignment(daemon)) == PARTITIONS, 60, "assignment")
            produce(tansu, topic, 0, 50, pause=0.005)
            wait_until(lambda: len(locks(hook)) >= 20, 30, "first incidents")
            daemon.kill()                                    # mid-stream
            produce(tansu, topic, 50, 50)                    # while it is down
            daemon.start()
            produce(tansu, topic, 100, 50, pause=0.005)
            wait_until(lambda: len(locks(hook)) == total, 120,
                       "lines were skipped across the kill -9")
            assert daemon.stop() == 0
    assert locks(hook) == {f"lock:job:{n}" for n in range(total)}
    for lock in locks(hook):                                # a repeat is the same event again
        ids = {r.headers["x-detector-event-id"] for r in hook.requests
               if r.json()["event"] == "open" and r.json()["fields"]["lock"] == lock}
        assert len(ids) == 1, (lock, ids)


async def wait_for_assignment(source: KafkaSource) -> None:
    deadline = time.monotonic() + 60
    while len(source.assigned) < PARTITIONS:                # the group was joined
        assert time.monotonic() < deadline, "no assignment"
        await asyncio.sleep(0.1)


async def test_a_full_queue_pauses_the_partitions_and_loses_nothing(tansu: str) -> None:
    topic = "paused"
    await create_topic(tansu, topic, PARTITIONS)
    full = True
    config = KafkaSourceConfig(type="kafka", name="bus", brokers=(tansu,), topics=(topic,),
                               group_id="paused-group", start_at="beginning")
    source = KafkaSource(config, Registry(), queue_full=lambda: full)
    async with running(source) as collector:
        await asyncio.to_thread(produce, tansu, topic, 0, 20)
        await wait_for_assignment(source)
        await asyncio.sleep(1.0)
        assert collector.lines() == []                       # paused: nothing read
        assert source.consumer is not None
        assert source.consumer.paused() == source.consumer.assignment() == source.assigned
        full = False
        got = await collector.wait_for(20)
    assert sorted(int(line.rsplit(":", 1)[1].split()[0]) for line in got) == list(range(20))


def test_fetched_records_are_handed_over_as_buffers_timed_where_needed() -> None:
    """The records of each key become one buffer, in their order, as they are; only a
    plain line with no time of its own gets the record's timestamp in front (so a
    backlog keeps its event times)."""
    import asyncio as aio
    from types import SimpleNamespace

    from detector.config import KafkaSourceConfig
    from detector.sources.kafka import KafkaSource
    from detector.telemetry.metrics import Registry

    source = KafkaSource(KafkaSourceConfig(type="kafka", name="bus", brokers=("b:1",),
                                           topics=("logs",)), Registry())
    partition = SimpleNamespace(topic="logs", partition=3)
    at = 1_795_132_800_000                                       # 2026-11-20T00:00:00Z
    keyed = [(b"api", b"2026-11-20 09:59:58,100 ERROR x: boom"),
             (b"worker", b"Nov 20 09:59:59 h app: boom"),              # keys interleave
             (b"api", b'{"msg": "boom", "level": "error"}'),
             (b"api", b"ERROR untimed boom\n")]
    records = [SimpleNamespace(key=k, value=v, offset=n, timestamp=at)
               for n, (k, v) in enumerate(keyed)]
    batches = []

    async def emit(batch: object) -> None:
        batches.append(batch)

    aio.run(source._hand_over(partition, records, emit))
    api, worker = batches
    assert api.data == (b"2026-11-20 09:59:58,100 ERROR x: boom\n"
                        b'{"msg": "boom", "level": "error"}\n'
                        b"2026-11-20T00:00:00.000000Z ERROR untimed boom\n")
    assert (api.origin.service, api.token) == ("api", None)   # the last batch commits all
    assert worker.data == b"Nov 20 09:59:59 h app: boom\n"
    assert (worker.origin.service, worker.token) == ("worker", (partition, 4))

"""Learned state follows Kafka partitions: two ``detector run`` processes in one group
against Tansu, services produced as record keys; one is killed with ``kill -9``, and the
survivor carries on its services as the dead one would have — no new grace period, no
second ``open`` for an incident that was already open."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from receivers import Receiver
from test_daemon import Daemon, stamp
from test_kafka_source import PARTITIONS, assignment, cleanup, new_topic, start_group, wait_until

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
            start_group(first, second)
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


# -- the record itself: detector.daemon.handover, on a real pipeline and outbox -------------
def moving_parts(tmp: Path, hs_engine: Any) -> tuple[Any, Any]:
    """A live pipeline with rates on, its spool on a real outbox, and its handover."""
    from detector.build import build_pipeline
    from detector.config import load_config
    from detector.daemon.handover import Handover
    from detector.daemon.queue import BatchQueue
    from detector.daemon.spool import Spool
    from detector.notify.dispatcher import Dispatcher
    from detector.notify.outbox import Outbox
    from detector.telemetry.metrics import Registry

    registry = Registry()
    tmp.mkdir()
    spool = Spool(Dispatcher([], Outbox.in_state_dir(tmp), registry), registry)
    pipeline = build_pipeline(load_config(None), hs_engine, spool, live=False)
    return pipeline, Handover(pipeline, spool, BatchQueue(1 << 20))


def feed(pipeline: Any, service: str, lines: list[str]) -> None:
    from detector.decode.events import Origin, Stream

    stream = Stream(origin=Origin(source="kafka:logs", service=service))
    pipeline.feed("".join(line + "\n" for line in lines).encode(), stream, final=True)


def test_a_partition_record_carries_its_services_to_another_process(
        tmp_path: Path, hs_engine: Any) -> None:
    home, handover = moving_parts(tmp_path / "home", hs_engine)
    feed(home, "api", [LINE.format(stamp=f"2026-11-20 10:{m:02d}:00,000") for m in range(30)])
    feed(home, "db", [LINE.format(stamp="2026-11-20 10:00:00,000")])
    assert handover.capture(["api"]) is None                 # the open is not in the outbox yet
    assert handover.spool.try_flush()
    record = handover.capture(["api"])
    assert record is not None and b"hunter2" not in record and b"db" not in record
    document = orjson.loads(record)
    assert (document["version"], document["services"]) == (1, ["api"])
    assert set(document["state"]) == {"incidents", "rates", "novelty"}

    other, taker = moving_parts(tmp_path / "other", hs_engine)
    assert taker.services_in(record) == taker.restore(record) == ["api"]
    (incident,) = other.tracker.open.values()
    assert incident.id == next(i.id for i in home.tracker.open.values() if i.service == "api")
    assert set(rates(other).keys) == {k for k in rates(home).keys if k[0] == "api"}
    feed(other, "api", [LINE.format(stamp="2026-11-20 10:31:00,000")])
    assert other.tracker.open[incident.fingerprint].count == 31     # counted, not opened
    assert [e["event"] for e in taker.spool.held] == ["update"]
    taker.forget(["api"])
    assert other.tracker.open == {} and not rates(other).keys


def rates(pipeline: Any) -> Any:
    return next(d for d in pipeline.detectors if d.name == "rates")


def test_a_record_of_another_version_is_refused(tmp_path: Path, hs_engine: Any) -> None:
    from detector.errors import StateError

    _pipeline, handover = moving_parts(tmp_path / "p", hs_engine)
    for bad in (b"{", b'{"version": 2, "services": [], "state": {}}', b'{"version": 1}'):
        with pytest.raises(StateError):
            handover.restore(bad)


def events(hook: Receiver, *names: str) -> list[dict[str, Any]]:
    return [r.json() for r in hook.requests if r.json()["event"] in names]

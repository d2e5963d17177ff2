"""Kafka: a consumer group on ``topics``; offsets committed only once it is safe.

Each record's value is a line (plain or JSON); its key, when the line names no
service, is the service. Fetched records are handed to the pipeline as one buffer
per run of records with the same key, values joined as they are: no decoding and
re-encoding per record. Only a plain line that carries no time of its own (a
quick look at its first bytes) is given the record's timestamp up front, so its
event time is the record's and not its arrival's. The daemon processes a batch, writes the incident
events it caused to the outbox, and only then commits (``commit``); the
consumer commits those offsets to the group, so a ``kill -9`` re-delivers what
was not yet processed and skips nothing (at least once). When the daemon's
queue is full the assigned partitions are paused; when partitions are revoked
in a rebalance, what was processed is committed first. Several detector
processes in one group share the partitions: that is how it scales past a host.

With a ``state_topic`` (the default), what was learned follows the partitions
(:mod:`detector.daemon.handover`, :mod:`detector.sources.kafka_state`): the services
each partition's record keys named are tracked; every ``STATE_EVERY`` seconds the state
of those services is written to the state topic, one record per partition, and only
then are the offsets it covers committed (so a new owner never resumes past what the
record holds). Revoked partitions are drained and written first; newly assigned ones are
paused until their services' state is read back and restored, and the services of
partitions that went elsewhere are forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable, Collection
from typing import Any, Protocol

import structlog

from detector.config import KafkaSourceConfig
from detector.decode.events import Origin
from detector.sources._records import stamp
from detector.sources.base import Batch, Emit, Source
from detector.sources.kafka_state import StateTopic, partition_key
from detector.telemetry.metrics import Registry

__all__ = ["KafkaSource", "PartitionState"]

log = structlog.get_logger("detector.sources.kafka")
MAX_RECORDS = 10_000
PARTITION_FETCH_BYTES = 4 << 20
STATE_EVERY = 2.0             # seconds between state records (and commits) with a state topic
MAX_SERVICES = 10_000         # services tracked per partition
# A line that starts with a time (the formats detector.decode.timestamps reads, and JSON,
# whose time is a field): handed over as it is.
_TIMED = re.compile(
    rb"[ \t]*(?:\{|\[?\d{4}[-/]\d\d[-/]\d\d[T ]\d\d:\d\d|\[\d\d/[A-Z][a-z]{2}/\d{4}:"
    rb"|(?:<\d{1,3}>)?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:"
    rb"|\d{10}(?:\.\d+)?\s)")


class PartitionState(Protocol):
    """What the daemon does with a partition's learned state (``Handover``)."""

    def capture(self, services: Collection[str]) -> bytes | None: ...
    def restore(self, data: bytes) -> list[str]: ...
    def services_in(self, data: bytes) -> list[str]: ...
    def forget(self, services: Collection[str]) -> None: ...
    async def drain(self) -> None: ...


class KafkaSource(Source):
    kind = "kafka"

    def __init__(self, config: KafkaSourceConfig, registry: Registry,
                 queue_full: Callable[[], bool] | None = None) -> None:
        super().__init__(config, registry)
        self.kafka = config
        self.queue_full = queue_full or (lambda: False)
        self.consumer: Any = None
        self.processed: dict[Any, int] = {}       # partition → next offset to commit
        self.assigned: set[Any] = set()
        self._commit_lock = asyncio.Lock()
        # state that follows partitions (set by the daemon when state_topic is set)
        self.handover: PartitionState | None = None
        self.state_topic: StateTopic | None = None
        self.services: dict[Any, set[str]] = {}   # partition → services its keys named
        self.held: set[Any] = set()                # partitions owned before a rebalance
        self._restoring: set[Any] = set()          # paused until their state is restored
        self._state_at = 0.0

    @property
    def following(self) -> bool:
        return self.handover is not None and self.state_topic is not None

    def commit(self, token: Any) -> None:
        partition, next_offset = token
        if next_offset > self.processed.get(partition, -1):
            self.processed[partition] = next_offset

    async def flush_commits(self) -> None:
        """Commit processed offsets to the group (called by the daemon after processing);
        with a state topic, write the state of every owned partition first."""
        if self.following:
            await self.save_state(set(self.assigned), every=True)
            return
        if self.consumer is None or not self.processed:
            return
        async with self._commit_lock:
            offsets = {tp: off for tp, off in self.processed.items() if tp in self.assigned}
            if not offsets:
                return
            try:
                await self.consumer.commit(offsets)
            except Exception as exc:
                self.failed("commit", exc)
                return
            for tp, off in offsets.items():
                if self.processed.get(tp) == off:
                    del self.processed[tp]

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
        from aiokafka.errors import KafkaError

        source = self

        class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
            async def on_partitions_revoked(self, revoked: Any) -> None:
                if source.following and source.handover is not None:
                    await source.handover.drain()
                    await source.save_state(set(revoked), every=True)
                else:
                    await source.flush_commits()
                source.assigned -= set(revoked)
                for tp in revoked:                # not ours to commit any more
                    source.processed.pop(tp, None)
                log.info("kafka.revoked", source=source.name,
                         partitions=sorted(f"{tp.topic}:{tp.partition}" for tp in revoked))

            async def on_partitions_assigned(self, assigned: Any) -> None:
                source.assigned |= set(assigned)
                if source.following:
                    await source.take_over(set(assigned) - source.held)
                source.held = set(source.assigned)
                log.info("kafka.assigned", source=source.name,
                         partitions=sorted(f"{tp.topic}:{tp.partition}" for tp in assigned))

        attempt = 0
        while not stop.is_set():
            consumer = AIOKafkaConsumer(
                bootstrap_servers=list(self.kafka.brokers), group_id=self.kafka.group_id,
                client_id=self.kafka.client_id, enable_auto_commit=False,
                auto_offset_reset="latest" if self.kafka.start_at == "end" else "earliest",
                max_poll_records=MAX_RECORDS,
                max_partition_fetch_bytes=PARTITION_FETCH_BYTES)
            state = contextlib.AsyncExitStack()
            try:
                if self.handover is not None:
                    self.state_topic = await state.enter_async_context(StateTopic(
                        self.kafka.brokers, self.kafka.state_topic, self.kafka.client_id))
                await consumer.start()
                self.held = set()        # a new member: what it held may have moved meanwhile
                consumer.subscribe(list(self.kafka.topics), listener=Listener())
                self.consumer = consumer
                self.recovered()
                attempt = 0
                await self._consume(consumer, emit, stop)
            except KafkaError as exc:
                self.failed("kafka", exc)
                attempt += 1
            finally:
                with contextlib.suppress(Exception):
                    if self.following and self.handover is not None:
                        await self.handover.drain()     # the last record covers the queue
                    await self.flush_commits()
                self.consumer = None
                with contextlib.suppress(Exception):
                    await consumer.stop()
                await state.aclose()
                self.state_topic = None
            if not stop.is_set() and await self.sleep(stop, self.backoff(attempt, base=1.0)):
                return

    async def _consume(self, consumer: Any, emit: Emit, stop: asyncio.Event) -> None:
        paused = False
        while not stop.is_set():
            if self.queue_full():
                unpaused = consumer.assignment() - consumer.paused()
                if unpaused:                  # a rebalance may assign while we are paused
                    consumer.pause(*unpaused)
                paused = True
                await asyncio.sleep(0.05)
                continue
            if paused:
                consumer.resume(*(consumer.paused() - self._restoring))
                paused = False
            batches = await consumer.getmany(timeout_ms=200, max_records=MAX_RECORDS)
            for partition, records in batches.items():
                await self._hand_over(partition, records, emit)
            if not self.following:
                await self.flush_commits()
            elif time.monotonic() - self._state_at >= STATE_EVERY:
                await self.save_state(set(self.processed))

    # -- state that follows partitions ---------------------------------------------------
    async def save_state(self, partitions: set[Any], *, every: bool = False) -> bool:
        """Write the state record of ``partitions`` (those with processed records, or
        ``every`` one), then commit the offsets it covers. False when it must wait:
        incident events are still on their way to the outbox (nothing is committed)."""
        if self.consumer is None or self.handover is None or self.state_topic is None:
            return False
        async with self._commit_lock:
            owned = partitions & self.assigned
            offsets = {tp: off for tp, off in self.processed.items() if tp in owned}
            records: dict[str, bytes] = {}
            for tp in (owned if every else offsets):
                record = self.handover.capture(self.services.get(tp, ()))
                if record is None:
                    return False
                records[partition_key(tp)] = record
            self._state_at = time.monotonic()
            if not records:
                return True
            try:
                await self.state_topic.write(records)
            except Exception as exc:           # the positions still move: lines come first
                self.failed("state", exc)
            else:
                if not self.health.ok and self.health.reason.startswith("state:"):
                    self.recovered()
            if offsets:
                try:
                    await self.consumer.commit(offsets)
                except Exception as exc:
                    self.failed("commit", exc)
                    return True
            for tp, off in offsets.items():
                if self.processed.get(tp) == off:
                    del self.processed[tp]
            return True

    async def take_over(self, new: set[Any]) -> None:
        """Partitions assigned in a rebalance: restore the services of the ``new`` ones
        from the state topic before any of their records is read; forget the services
        of partitions another process owns."""
        consumer, handover, topic = self.consumer, self.handover, self.state_topic
        if consumer is None or handover is None or topic is None:
            return
        if new:
            consumer.pause(*new)                  # before anything awaits: no record yet
            self._restoring |= new
        try:
            records = await topic.read() if new else {}
            mine = {partition_key(tp): tp for tp in self.assigned}
            elsewhere: set[str] = set()
            restored = 0
            for key, data in records.items():
                tp = mine.get(key)
                try:
                    if tp is None:
                        elsewhere.update(handover.services_in(data))
                    elif tp in new:
                        self.services[tp] = set(handover.restore(data))
                        restored += len(self.services[tp])
                except Exception as exc:
                    log.error("kafka.state_unreadable", source=self.name, partition=key,
                              error=str(exc), effect="its services start afresh")
            for tp in list(self.services):
                if tp not in self.assigned:
                    elsewhere.update(self.services.pop(tp))
            ours = set().union(*(self.services.get(tp, set()) for tp in self.assigned))
            handover.forget(elsewhere - ours)
            if new:
                log.info("kafka.state_restored", source=self.name, services=restored,
                         partitions=sorted(partition_key(tp) for tp in new))
        except Exception as exc:
            self.failed("state", exc)
        finally:
            if new:
                self._restoring -= new
                with contextlib.suppress(Exception):
                    consumer.resume(*(new & consumer.assignment()))

    async def _hand_over(self, partition: Any, records: list[Any], emit: Emit) -> None:
        """One batch per key (the key may be the service), its records in their order.

        Records keyed by service interleave in a partition; grouping them by key keeps
        the batches large. Only the last batch carries the fetch's position: nothing is
        committed before every record of the fetch is processed."""
        timed = _TIMED.match
        groups: dict[bytes | None, list[bytes]] = {}
        for record in records:
            value = record.value or b""
            if value[-1:] == b"\n":
                value = value.rstrip(b"\r\n")
            if timed(value) is None and record.timestamp:
                value = stamp(record.timestamp / 1000.0).encode() + b" " + value
            values = groups.get(record.key)
            if values is None:
                values = groups[record.key] = []
            values.append(value)
        last = len(groups) - 1
        for n, (key, values) in enumerate(groups.items()):
            data = b"\n".join(values) + b"\n"
            self.counted(len(values), len(data))
            service = key.decode("utf-8", "replace") if key else None
            if self.handover is not None:
                seen = self.services.setdefault(partition, set())
                if len(seen) < MAX_SERVICES:
                    seen.add(self.config.service or service or partition.topic)
            origin = Origin(source=f"kafka:{partition.topic}", service=service or partition.topic,
                            override=self.config.service,
                            allow_json=self.config.format != "plain")
            token = (partition, records[-1].offset + 1) if n == last else None
            await emit(Batch(source=self, stream=f"kafka:{partition.topic}:{partition.partition}",
                             origin=origin, data=data, arrival=time.time(), token=token,
                             final=True))
        if records:
            with contextlib.suppress(Exception):
                high = self.consumer.highwater(partition) if self.consumer else None
                if high is not None:
                    self.lag.set(float(max(0, high - records[-1].offset - 1)),
                                 source=self.name, unit="records",
                                 partition=f"{partition.topic}:{partition.partition}")

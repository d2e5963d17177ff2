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
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from typing import Any

import structlog

from detector.config import KafkaSourceConfig
from detector.decode.events import Origin
from detector.sources._records import stamp
from detector.sources.base import Batch, Emit, Source
from detector.telemetry.metrics import Registry

__all__ = ["KafkaSource"]

log = structlog.get_logger("detector.sources.kafka")
MAX_RECORDS = 10_000
PARTITION_FETCH_BYTES = 4 << 20
# A line that starts with a time (the formats detector.decode.timestamps reads, and JSON,
# whose time is a field): handed over as it is.
_TIMED = re.compile(
    rb"[ \t]*(?:\{|\[?\d{4}[-/]\d\d[-/]\d\d[T ]\d\d:\d\d|\[\d\d/[A-Z][a-z]{2}/\d{4}:"
    rb"|(?:<\d{1,3}>)?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:"
    rb"|\d{10}(?:\.\d+)?\s)")


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

    def commit(self, token: Any) -> None:
        partition, next_offset = token
        if next_offset > self.processed.get(partition, -1):
            self.processed[partition] = next_offset

    async def flush_commits(self) -> None:
        """Commit processed offsets to the group (called by the daemon after processing)."""
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
                await source.flush_commits()
                source.assigned -= set(revoked)
                log.info("kafka.revoked", source=source.name,
                         partitions=sorted(f"{tp.topic}:{tp.partition}" for tp in revoked))

            async def on_partitions_assigned(self, assigned: Any) -> None:
                source.assigned |= set(assigned)
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
            try:
                await consumer.start()
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
                    await self.flush_commits()
                self.consumer = None
                with contextlib.suppress(Exception):
                    await consumer.stop()
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
                consumer.resume(*consumer.paused())
                paused = False
            batches = await consumer.getmany(timeout_ms=200, max_records=MAX_RECORDS)
            for partition, records in batches.items():
                await self._hand_over(partition, records, emit)
            await self.flush_commits()

    async def _hand_over(self, partition: Any, records: list[Any], emit: Emit) -> None:
        """One batch per run of records with the same key (the key may be the service)."""
        timed = _TIMED.match
        start = 0
        count = len(records)
        while start < count:
            key = records[start].key
            end = start + 1
            while end < count and records[end].key == key:
                end += 1
            values = []
            for record in records[start:end]:
                value = record.value or b""
                if value[-1:] == b"\n":
                    value = value.rstrip(b"\r\n")
                if timed(value) is None and record.timestamp:
                    value = stamp(record.timestamp / 1000.0).encode() + b" " + value
                values.append(value)
            data = b"\n".join(values) + b"\n"
            self.counted(end - start, len(data))
            service = key.decode("utf-8", "replace") if key else None
            origin = Origin(source=f"kafka:{partition.topic}", service=service or partition.topic,
                            override=self.config.service,
                            allow_json=self.config.format != "plain")
            await emit(Batch(source=self, stream=f"kafka:{partition.topic}:{partition.partition}",
                             origin=origin, data=data, arrival=time.time(),
                             token=(partition, records[end - 1].offset + 1), final=True))
            start = end
        if records:
            with contextlib.suppress(Exception):
                high = self.consumer.highwater(partition) if self.consumer else None
                if high is not None:
                    self.lag.set(float(max(0, high - records[-1].offset - 1)),
                                 source=self.name, unit="records",
                                 partition=f"{partition.topic}:{partition.partition}")

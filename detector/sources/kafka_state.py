"""The state topic: where a Kafka source keeps what was learned per partition.

One record per partition of the followed topics, keyed ``"<topic>:<partition>"``, its
value the versioned JSON :mod:`detector.daemon.handover` writes. The topic has one
partition and ``cleanup.policy=compact`` (created so when missing), so the broker keeps
the last record of each key; reading reads the whole topic up to its end offsets and
keeps the last value per key itself, so a broker that does not compact (or has not
compacted yet) gives the same answer, only more slowly.

Everything here is I/O: what goes into a record, and what is done with it, is the
handover's business.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Any

import structlog

__all__ = ["StateTopic", "partition_key"]

log = structlog.get_logger("detector.sources.kafka_state")
MAX_RECORD_BYTES = 16 << 20        # one partition's state, compressed (gzip)
READ_TIMEOUT_MS = 500


def partition_key(partition: Any) -> str:
    """A followed partition's key in the state topic: ``"app-logs:3"``."""
    return f"{partition.topic}:{partition.partition}"


class StateTopic:
    """Write per-partition records to, and read them all back from, the state topic."""

    def __init__(self, brokers: tuple[str, ...], topic: str, client_id: str) -> None:
        self.brokers = list(brokers)
        self.topic = topic
        self.client_id = client_id
        self.producer: Any = None

    async def __aenter__(self) -> StateTopic:
        from aiokafka import AIOKafkaProducer

        await self._ensure_topic()
        producer = AIOKafkaProducer(bootstrap_servers=self.brokers, client_id=self.client_id,
                                    compression_type="gzip", acks="all",
                                    max_request_size=MAX_RECORD_BYTES, linger_ms=5)
        await producer.start()
        self.producer = producer
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()

    async def _ensure_topic(self) -> None:
        """Create the topic (one partition, compacted) unless it is there already."""
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic
        from aiokafka.errors import TopicAlreadyExistsError

        admin = AIOKafkaAdminClient(bootstrap_servers=self.brokers, client_id=self.client_id)
        await admin.start()
        try:
            if self.topic in set(await admin.list_topics()):
                return
            brokers = len((await admin.describe_cluster()).get("brokers", [])) or 1
            topic = NewTopic(self.topic, num_partitions=1, replication_factor=min(3, brokers),
                             topic_configs={"cleanup.policy": "compact"})
            try:
                await admin.create_topics([topic])
                log.info("kafka.state_topic_created", topic=self.topic,
                         replication=min(3, brokers))
            except TopicAlreadyExistsError:
                pass                                    # another process was first
        finally:
            await admin.close()

    async def write(self, records: dict[str, bytes]) -> None:
        """Send every record and wait until the broker has them all."""
        if self.producer is None:
            raise RuntimeError("the state topic is not open")
        sent = [await self.producer.send(self.topic, value, key=key.encode())
                for key, value in records.items()]
        await asyncio.gather(*sent)

    async def read(self) -> dict[str, bytes]:
        """The last value of every key, read from the beginning to the end offsets the
        topic has now (a key whose last value is empty, a tombstone, is left out)."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(bootstrap_servers=self.brokers, client_id=self.client_id,
                                    group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest",
                                    max_partition_fetch_bytes=MAX_RECORD_BYTES,
                                    fetch_max_bytes=MAX_RECORD_BYTES * 2)
        await consumer.start()
        try:
            await consumer.topics()                    # metadata, which names the partitions
            partitions = consumer.partitions_for_topic(self.topic) or set()
            tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            if not tps:
                return {}
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            await consumer.seek_to_beginning(*tps)
            latest: dict[str, bytes] = {}
            while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
                batches = await consumer.getmany(*tps, timeout_ms=READ_TIMEOUT_MS)
                for records in batches.values():
                    for record in records:
                        if record.key is None:
                            continue
                        key = record.key.decode("utf-8", "replace")
                        if record.value:
                            latest[key] = record.value
                        else:
                            latest.pop(key, None)
            return latest
        finally:
            await consumer.stop()

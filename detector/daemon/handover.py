"""Learned state that follows a Kafka partition from one process of a group to another.

When the services' lines are produced with the service as the record key, each service
lives in one partition, and what the detector learned about it — rate baselines,
templates, open incidents — can go where its partition goes. A Kafka source with a
``state_topic`` hands this object the services it saw in a partition; it returns one
record per partition (:meth:`Handover.capture`), versioned JSON::

    {"version": 1, "services": ["api", ...],
     "state": {"incidents": {...}, "rates": {...}, "novelty": {...}}}

where each part is the partial snapshot (``ServiceState.snapshot_services``) of the
incident tracker and of each detector that keeps its state per service. The snapshots
are those the state directory holds (samples and templates redacted before any detector
saw them), so a record carries no secret the state files would not.

A record is taken only when no incident event is on its way to the outbox: the state
must never claim an incident whose ``open`` the outbox has not got. The source writes
it, then commits the partition's offsets; the process that is assigned the partition
next reads it and restores its services (:meth:`Handover.restore`) before it consumes a
record: no new grace period, no new warm-up, and open incidents keep their ids and
fingerprints, so a moved partition sends no second ``open``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection
from typing import Any

import orjson
import structlog

from detector.daemon.queue import BatchQueue
from detector.daemon.spool import Spool
from detector.detect.base import ServiceState
from detector.errors import StateError
from detector.pipeline import Pipeline
from detector.sources.base import Source
from detector.sources.kafka import KafkaSource

__all__ = ["VERSION", "Handover", "attach"]

log = structlog.get_logger("detector.daemon.handover")
VERSION = 1
DRAIN_WITHIN = 10.0         # on revocation: how long the queue and the outbox may take


class Handover:
    def __init__(self, pipeline: Pipeline, spool: Spool, queue: BatchQueue) -> None:
        self.pipeline = pipeline
        self.spool = spool
        self.queue = queue

    def parts(self) -> list[tuple[str, ServiceState]]:
        """The incident tracker and each detector that keeps its state per service."""
        parts: list[tuple[str, ServiceState]] = [("incidents", self.pipeline.tracker)]
        parts += [(d.name, d) for d in self.pipeline.detectors if isinstance(d, ServiceState)]
        return parts

    def capture(self, services: Collection[str]) -> bytes | None:
        """The record of a partition whose lines named ``services``; ``None`` while
        incident events are still on their way to the outbox (try again later)."""
        if not self.spool.empty:
            return None
        names = sorted(services)
        return orjson.dumps({"version": VERSION, "services": names, "state": {
            name: part.snapshot_services(names) for name, part in self.parts()}})

    @staticmethod
    def services_in(data: bytes) -> list[str]:
        """The services a record holds (``StateError`` if it cannot be read)."""
        return [str(s) for s in _document(data)["services"]]

    def restore(self, data: bytes) -> list[str]:
        """Take a record's services into the running state; their names."""
        document = _document(data)
        state = document.get("state")
        if not isinstance(state, dict):
            raise StateError("partition state: no state")
        for name, part in self.parts():
            if name in state:
                part.restore_services(state[name])
        return [str(s) for s in document["services"]]

    def forget(self, services: Collection[str]) -> None:
        """Drop what this process kept of ``services``: another one owns them now."""
        if not services:
            return
        for _name, part in self.parts():
            part.forget_services(services)
        log.info("kafka.state_forgotten", services=len(services))

    async def drain(self) -> None:
        """Process what is queued and put its incident events in the outbox (within
        ``DRAIN_WITHIN`` each), so that a revoked partition's record covers it."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_WITHIN):
                await self.queue.join()
        deadline = asyncio.Event()
        asyncio.get_running_loop().call_later(DRAIN_WITHIN, deadline.set)
        await self.spool.flush(stop=deadline)


def _document(data: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise StateError(f"partition state: not JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("version") != VERSION:
        version = document.get("version") if isinstance(document, dict) else None
        raise StateError(f"partition state: unknown version {version!r}")
    if not isinstance(document.get("services"), list):
        raise StateError("partition state: no services")
    return document


def attach(sources: list[Source], pipeline: Pipeline, spool: Spool, queue: BatchQueue) -> None:
    """Give every source that keeps state per partition (a Kafka source with a
    ``state_topic``) the handover of this daemon."""
    handover = Handover(pipeline, spool, queue)
    for source in sources:
        if isinstance(source, KafkaSource) and source.kafka.state_topic:
            source.handover = handover

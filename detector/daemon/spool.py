"""Incident events on their way into the outbox: nothing is committed before they are in.

The pipeline's incident events are held here until the outbox has them durably;
only then may a batch's checkpoint be committed and the learned state be saved
(an event the outbox never took must be produced again after a restart, from
the same lines). When the outbox cannot take them — a full disk, a read-only
state directory, a locked database — the events stay held, the processor stops
taking batches (the sources then stop reading: backpressure), ``/healthz`` and
``detector_outbox_blocked`` say why, and the spool tries again with backoff
until the disk has room again. Nothing is lost and nothing is skipped.

The spool also stops *before* the disk is full: it keeps a reserve free on the state
directory's file system (a tenth of it, at most 8 MiB, counting the pages the outbox
will reuse), so that the dispatcher can always mark what it delivered — otherwise a
backlog of the daemon's own notifications could fill the disk and leave no room to
record that any of them was sent, and it would never drain by itself.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3

import structlog

from detector.model import IncidentEvent
from detector.notify.dispatcher import Dispatcher
from detector.retry import backoff
from detector.telemetry.metrics import Registry

__all__ = ["Spool"]

log = structlog.get_logger("detector.spool")
RETRY_BASE = 0.5
RETRY_CAP = 30.0
RESERVE_CAP = 8 << 20            # bytes kept free for delivery, at most ...
RESERVE_SHARE = 10               # ... and at most a tenth of the file system


class Spool:
    def __init__(self, dispatcher: Dispatcher, registry: Registry,
                 reserve: int | None = None) -> None:
        self.dispatcher = dispatcher
        folder = dispatcher.outbox.path.parent
        self.reserve = reserve if reserve is not None else min(
            RESERVE_CAP, shutil.disk_usage(folder).total // RESERVE_SHARE)
        self.held: list[IncidentEvent] = []
        self.blocked: str | None = None          # why the outbox refuses, while it does
        self.failures = registry.counter("detector_outbox_write_errors_total",
                                         "Failed writes of incident events to the outbox.")
        registry.gauge("detector_outbox_blocked",
                       "1 while the outbox cannot take incident events (disk full…).",
                       lambda: [({}, 1.0 if self.blocked else 0.0)])
        registry.gauge("detector_spool_events", "Incident events waiting for the outbox.",
                       lambda: [({}, float(len(self.held)))])

    def __call__(self, event: IncidentEvent) -> None:
        """The pipeline's sink."""
        self.held.append(event)

    @property
    def empty(self) -> bool:
        return not self.held

    def try_flush(self) -> bool:
        """Put what is held into the outbox, in one transaction; True when nothing is
        held any more."""
        if not self.held:
            return True
        try:
            room = self.room()
            if room < self.reserve:
                return self._refuse(f"state disk nearly full: {room / 1e6:.1f} MB free, "
                                    f"{self.reserve / 1e6:.1f} MB kept for delivery")
            self.dispatcher.enqueue_many(self.held)
        except (sqlite3.Error, OSError) as exc:
            self.failures.inc()
            return self._refuse(f"cannot write: {exc}")
        if self.blocked is not None:
            log.info("outbox.unblocked", delivered=len(self.held))
            self.blocked = None
        self.held.clear()
        return True

    def room(self) -> int:
        """Free bytes for new notifications: the file system's, and (only when that is
        short of the reserve) the pages inside the outbox that SQLite will reuse."""
        outbox = self.dispatcher.outbox
        free = shutil.disk_usage(outbox.path.parent).free
        return free if free >= self.reserve else free + outbox.reusable_bytes()

    def _refuse(self, why: str) -> bool:
        reason = f"outbox: {why}"
        if reason != self.blocked:
            log.error("outbox.blocked", error=why, held=len(self.held),
                      effect="reading paused until the outbox takes events again")
        self.blocked = reason
        return False

    async def flush(self, stop: asyncio.Event | None = None) -> bool:
        """Wait until the outbox has everything held (retrying with backoff); False if
        ``stop`` was set first."""
        attempt = 0
        while not self.try_flush():
            attempt += 1
            wait = max(RETRY_BASE, backoff(attempt, RETRY_BASE, RETRY_CAP))
            if stop is None:
                await asyncio.sleep(wait)
                continue
            try:
                await asyncio.wait_for(stop.wait(), timeout=wait)
            except TimeoutError:
                continue
            return self.try_flush()
        return True

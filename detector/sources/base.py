"""What every source is: it reads, hands over whole lines, and never loses its place.

A source runs as one task (``run``) and hands the daemon :class:`Batch` es of whole
lines through an awaitable ``emit``; when the daemon's queue is full, ``emit``
waits, and the source stops reading: that is the backpressure. Each batch
carries a checkpoint *token*; the daemon calls ``commit(token)`` once the batch
was processed and its incident events were durably in the outbox, and only then
does the source's saved position move past it (``checkpoint()`` is what the
daemon writes to the state directory). A restart resumes from there: lines are
never skipped, though a few may be read twice.

Sources report their health: the last error (logged once per kind, retried with
backoff) and how long they have been silent, which ``/healthz`` and the
``source_down`` self-monitoring incident use.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from detector.config import SourceConfig
from detector.decode.events import Origin
from detector.retry import backoff
from detector.telemetry.metrics import Registry

__all__ = ["Batch", "Emit", "Source", "SourceError"]

log = structlog.get_logger("detector.sources")


class SourceError(Exception):
    """A failure reading a source: logged, counted, retried."""


@dataclass
class Batch:
    """Whole lines (each ending in ``\\n``) from one stream of one source."""

    source: Source
    stream: str                       # a key unique within the source: file, container…
    origin: Origin
    data: bytes
    arrival: float
    token: Any = None                 # what ``source.commit`` needs once it is processed
    final: bool = False               # nothing more will follow on this stream


Emit = Callable[[Batch], Awaitable[None]]


@dataclass
class Health:
    ok: bool = True
    reason: str = ""
    since: float = field(default_factory=time.time)


class Source:
    """Base class: health, metrics, backoff, logging once per kind of error."""

    kind = "source"

    def __init__(self, config: SourceConfig, registry: Registry) -> None:
        self.config = config
        self.name = config.name
        self.health = Health()
        self.last_data = time.time()
        self.started = time.time()
        self._logged: set[str] = set()
        labels = {"source": self.name}
        self._labels = labels
        self.lines = registry.counter("detector_source_lines_total",
                                      "Lines read, by source.")
        self.bytes = registry.counter("detector_source_bytes_total", "Bytes read, by source.")
        self.errors = registry.counter("detector_source_errors_total",
                                       "Errors reading a source (retried).")
        self.lag = registry.gauge("detector_source_lag",
                                  "How far behind a source is (bytes or seconds, by kind).")

    # -- the daemon's side ----------------------------------------------------------
    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        raise NotImplementedError

    def commit(self, token: Any) -> None:
        """``token``'s batch was processed; the saved position may move past it."""

    def checkpoint(self) -> dict[str, Any]:
        """The position to save (JSON-able)."""
        return {}

    def restore(self, saved: dict[str, Any]) -> None:
        """Resume from a saved position."""

    async def positioned(self) -> None:
        """Return once the source knows where it reads from, so its checkpoint can be
        saved at once: a crash in the first seconds after a start must not turn the next
        start into a first one. Sources that settle their start positions while starting
        (files at ``start_at = "end"``) override this."""

    @property
    def finite(self) -> bool:
        """Does this source end by itself (stdin)?"""
        return False

    # -- for subclasses -------------------------------------------------------------
    def counted(self, lines: int, size: int) -> None:
        self.lines.inc(lines, **self._labels)
        self.bytes.inc(size, **self._labels)
        self.last_data = time.time()

    def failed(self, kind: str, error: object) -> None:
        """A failure: counted, logged once per kind, and visible in /healthz."""
        self.errors.inc(source=self.name, kind=kind)
        reason = f"{kind}: {error}"
        if self.health.ok or self.health.reason != reason:
            self.health = Health(ok=False, reason=reason)
        if kind not in self._logged:
            self._logged.add(kind)
            log.error("source.failed", source=self.name, kind=kind, error=str(error))

    def recovered(self) -> None:
        if not self.health.ok:
            log.info("source.recovered", source=self.name, after=self.health.reason)
            self.health = Health(ok=True)
            self._logged.clear()

    @staticmethod
    async def sleep(stop: asyncio.Event, seconds: float) -> bool:
        """Sleep unless stopped; True if the source should stop."""
        try:
            await asyncio.wait_for(stop.wait(), timeout=max(seconds, 0.0))
        except TimeoutError:
            return False
        return True

    @staticmethod
    def backoff(attempt: int, base: float = 0.5, cap: float = 60.0) -> float:
        return backoff(attempt, base, cap)

"""Batches that crashed the pipeline: kept, counted, never retried forever.

An unexpected exception while a batch goes through the pipeline is a bug, but
it must not stop the daemon or make it read the same lines again after every
restart. The batch (with whatever its stream held back) is written to
``quarantine/`` in the state directory, for a post-mortem and a later
``detector replay``, its position is committed, and the daemon goes on. The
folder is bounded: past ``MAX_BYTES`` the oldest files go.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import structlog

from detector.telemetry.metrics import Registry

__all__ = ["Quarantine"]

log = structlog.get_logger("detector.quarantine")
MAX_BYTES = 64 << 20


class Quarantine:
    def __init__(self, folder: Path, registry: Registry) -> None:
        self.folder = folder
        self.count = registry.counter("detector_batches_quarantined_total",
                                      "Batches that crashed the pipeline, set aside.")

    def keep(self, source: str, data: bytes, error: BaseException) -> Path | None:
        """Write ``data`` aside and log the crash with its traceback."""
        self.count.inc(source=source)
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{time.monotonic_ns()}.log"
        target = self.folder / f"{_safe(source)}-{name}"
        try:
            self.folder.mkdir(mode=0o700, exist_ok=True)
            descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with open(descriptor, "wb") as handle:
                handle.write(data)
            self._bound()
        except OSError as exc:
            log.error("pipeline.crashed", source=source, bytes=len(data), kept=False,
                      error=repr(error), write_error=exc.strerror, exc_info=error)
            return None
        log.error("pipeline.crashed", source=source, bytes=len(data), kept=str(target),
                  error=repr(error), exc_info=error)
        return target

    def _bound(self) -> None:
        files = sorted(self.folder.glob("*.log"), key=lambda p: p.stat().st_mtime)
        total = sum(p.stat().st_size for p in files)
        while files and total > MAX_BYTES:
            oldest = files.pop(0)
            total -= oldest.stat().st_size
            oldest.unlink(missing_ok=True)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:64]

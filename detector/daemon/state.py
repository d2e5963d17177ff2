"""The state directory: versioned JSON files, written whole or not at all, kept private.

Each file is written to a temporary name (mode 0600), fsynced, renamed over the
old one, and the directory fsynced, so a crash at any moment leaves the old
version or the new one, never half of either. The directory is created 0700:
what it holds (positions, open incidents, learned rates and templates, the
outbox) is redacted, but still nobody else's business.

A file that cannot be read back (corrupt, or from a version this detector does
not know) is set aside under a ``.corrupt-<time>`` name with a log line, and the
component it belonged to starts afresh: never a crash loop.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import structlog

from detector.errors import StateError

__all__ = ["StateDir"]

log = structlog.get_logger("detector.state")


class StateDir:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(OSError):          # not ours to tighten: leave it
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077 and path.stat().st_uid == os.geteuid():
                path.chmod(mode & 0o700)

    def write_bytes(self, name: str, data: bytes) -> None:
        """Replace ``name`` atomically; raises ``OSError`` (disk full, read-only…)."""
        target = self.path / name
        temporary = target.with_name(f".{name}.{os.getpid()}.tmp")
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except OSError:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        directory = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def read_bytes(self, name: str) -> bytes | None:
        try:
            return (self.path / name).read_bytes()
        except FileNotFoundError:
            return None

    def write_json(self, name: str, value: Any) -> None:
        self.write_bytes(name, orjson.dumps(value))

    def read_json(self, name: str) -> Any:
        """The file's JSON, ``None`` if there is none (or it was corrupt, now set aside)."""
        data = self.read_bytes(name)
        if data is None:
            return None
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            self.set_aside(name, f"not JSON: {exc}")
            return None

    def load(self, name: str, restore: Callable[[Any], None]) -> bool:
        """Read ``name`` and hand it to ``restore``; set it aside if either fails.
        True when something was restored."""
        data = self.read_json(name)
        if data is None:
            return False
        try:
            restore(data)
        except (StateError, KeyError, TypeError, ValueError, AttributeError) as exc:
            self.set_aside(name, str(exc) if isinstance(exc, StateError) else repr(exc))
            return False
        return True

    def set_aside(self, name: str, reason: str) -> Path | None:
        """Move an unreadable file out of the way (kept for a post-mortem)."""
        target = self.path / f"{name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}"
        try:
            (self.path / name).replace(target)
            target.chmod(0o600)
        except OSError as exc:
            log.error("state.unreadable", file=name, reason=reason, set_aside=False,
                      error=exc.strerror)
            return None
        log.warning("state.set_aside", file=name, reason=reason, moved_to=target.name,
                    effect="that part starts afresh")
        return target

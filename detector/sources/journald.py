"""Following the systemd journal: a ``journalctl --follow --output=json`` child process.

As Vector does, the journal is read by ``journalctl`` itself (no binding to build): one
child per source, ``--output=json`` (one entry per line, read by the ``journald`` format),
filtered by unit (``_SYSTEMD_UNIT``, and systemd's own messages about it, ``UNIT``) and by
identifier (``SYSLOG_IDENTIFIER``), started ``--after-cursor`` the last entry handed over.
A child that exits or cannot start is logged, counted and restarted with backoff from the
entry after the last one read, so nothing is read twice within a run.

The checkpoint is the cursor of the last entry the daemon committed; a restart, kill -9
included, resumes after it (nothing lost, nothing repeated). At the very first start the
position is established before anything is read (``established`` is set): the journal's
last entry for ``start_at = "end"``, its beginning for ``"beginning"``, so a crash in the
first seconds loses nothing either.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import signal
import time
from typing import Any

import structlog

from detector.config.sources import JournaldSourceConfig
from detector.decode.events import Origin
from detector.sources.base import Batch, Emit, Source
from detector.telemetry.metrics import Registry

__all__ = ["JournaldSource", "journalctl_command"]

log = structlog.get_logger("detector.sources.journald")

READ_SIZE = 1 << 20
_CURSOR = re.compile(rb'"__CURSOR"\s*:\s*"((?:[^"\\]|\\.)*)"')
BEGINNING = "beginning"          # the checkpoint's word for "before the first entry"


def unit_name(unit: str) -> str:
    """``orders`` → ``orders.service``; names with a type suffix stay as they are."""
    return unit if "." in unit.rsplit("@", 1)[-1] else f"{unit}.service"


def journalctl_command(config: JournaldSourceConfig, cursor: str | None, *,
                       follow: bool = True) -> list[str]:
    """The ``journalctl`` command line that reads ``config``'s entries after ``cursor``
    (all of them when ``cursor`` is None)."""
    argv = [config.journalctl, "--output=json", "--no-pager", "--quiet"]
    if follow:
        argv += ["--follow", "--no-tail"]
    if config.directory:
        argv.append(f"--directory={config.directory}")
    if cursor is not None:
        argv.append(f"--after-cursor={cursor}")
    units = [unit_name(u) for u in config.units]
    groups = [[f"_SYSTEMD_UNIT={u}" for u in units], [f"UNIT={u}" for u in units],
              [f"SYSLOG_IDENTIFIER={i}" for i in config.identifiers]]
    matches: list[str] = []
    for group in (g for g in groups if g):
        if matches:
            matches.append("+")          # journalctl: OR between groups
        matches.extend(group)
    return argv + matches


def _die_with_parent() -> None:
    """In the child: killed when the detector dies (kill -9 included), never orphaned."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class JournaldSource(Source):
    kind = "journald"

    def __init__(self, config: JournaldSourceConfig, registry: Registry) -> None:
        super().__init__(config, registry)
        self.journal_config = config
        names = [*config.units, *config.identifiers]
        self.origin = Origin(source=f"journald:{self.name}",
                             service=names[0] if len(names) == 1 else "journald",
                             override=config.service, format="journald", expect_json=True)
        self.read_cursor: str | None = None         # the last entry handed over
        self.committed: str | None = None           # the last entry the daemon committed
        self.restored = False
        self.established = asyncio.Event()          # the position is known (checkpointable)
        self.restarts = 0
        self._carry = b""
        self._process: asyncio.subprocess.Process | None = None

    # -- checkpoints --------------------------------------------------------------------
    def restore(self, saved: dict[str, Any]) -> None:
        cursor = saved.get("cursor")
        if isinstance(cursor, str) and cursor:
            self.read_cursor = self.committed = cursor
            self.restored = True

    async def positioned(self) -> None:
        await self.established.wait()

    def checkpoint(self) -> dict[str, Any]:
        return {"cursor": self.committed} if self.committed is not None else {}

    def commit(self, token: Any) -> None:
        self.committed = token

    # -- the loop -----------------------------------------------------------------------
    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        attempt = 0
        try:
            while not self.restored and not await self._establish():
                attempt += 1
                if await self.sleep(stop, self.backoff(attempt)):
                    return
            self.restored = True
            self.established.set()
            attempt = 0
            while not stop.is_set():
                started = time.monotonic()
                reason = await self._follow(emit, stop)
                if stop.is_set():
                    return
                if time.monotonic() - started > 30:
                    attempt = 0
                attempt += 1
                self.restarts += 1
                self.failed("journalctl", reason)
                if await self.sleep(stop, self.backoff(attempt)):
                    return
        finally:
            await self._stop_child()

    async def _establish(self) -> bool:
        """The first start: where to begin, known (and checkpointable) before reading."""
        if self.journal_config.start_at == "beginning":
            self.read_cursor = None
            self.committed = BEGINNING
            return True
        config = self.journal_config
        argv = [config.journalctl, "--output=json", "--no-pager", "--quiet", "--lines=1"]
        if config.directory:
            argv.append(f"--directory={config.directory}")
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await process.communicate()
        except OSError as exc:
            self.failed("journalctl", f"{config.journalctl}: {exc.strerror or exc}")
            return False
        found = _CURSOR.findall(out)
        if not found and process.returncode != 0:
            self.failed("journalctl", f"exited with status {process.returncode}: "
                                      f"{err.decode('utf-8', 'replace').strip()[-300:]}")
            return False
        cursor = found[-1].decode() if found else None       # None: an empty journal
        self.read_cursor = cursor
        self.committed = cursor if cursor is not None else BEGINNING
        log.info("journald.established", source=self.name, cursor=self.committed)
        return True

    async def _follow(self, emit: Emit, stop: asyncio.Event) -> str:
        """Run one child until it exits (its reason returned) or the source stops."""
        cursor = self.read_cursor
        if cursor == BEGINNING:
            cursor = None
        argv = journalctl_command(self.journal_config, cursor)
        if shutil.which(argv[0]) is None:
            return f"{argv[0]}: not found (install systemd's journalctl)"
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                preexec_fn=_die_with_parent)
        except OSError as exc:
            return f"{argv[0]}: {exc.strerror or exc}"
        self._process = process
        log.info("journald.following", source=self.name, after=cursor)
        assert process.stdout is not None and process.stderr is not None
        stopped = asyncio.ensure_future(stop.wait())
        self._carry = b""
        try:
            while True:
                reading = asyncio.ensure_future(process.stdout.read(READ_SIZE))
                await asyncio.wait({reading, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not reading.done():
                    reading.cancel()
                    return "stopped"
                data = reading.result()
                if not data:
                    break
                await self._handle(data, emit)
        finally:
            stopped.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 5)
        err = (await process.stderr.read()).decode("utf-8", "replace").strip()
        return f"exited with status {process.returncode}" + (f": {err[-300:]}" if err else "")

    async def _handle(self, data: bytes, emit: Emit) -> None:
        buf = self._carry + data if self._carry else data
        cut = buf.rfind(b"\n") + 1
        self._carry = buf[cut:]
        if not cut:
            return
        whole = buf[:cut]
        last_start = whole.rfind(b"\n", 0, cut - 1) + 1
        found = _CURSOR.search(whole, last_start)
        if found is None:
            return                      # not an entry (journalctl prints nothing else)
        cursor = found.group(1).decode()
        self.read_cursor = cursor
        self.counted(whole.count(b"\n"), len(whole))
        self.recovered()
        await emit(Batch(source=self, stream="journal", origin=self.origin, data=whole,
                         arrival=time.time(), token=cursor))

    async def _stop_child(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 5)

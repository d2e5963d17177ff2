"""Following files: globs, new files, rotation, truncation, and never losing the place.

A file is known by its device and inode, not its name. The checkpoint of each
file is (device, inode, committed offset, a fingerprint of its first bytes, the
path it was read under), so that:

* rotation by rename (``app.log`` → ``app.log.1``) is noticed when the path shows
  another inode; the old file is read to its end before the new one is started;
* copytruncate and truncation are noticed when a file shrinks below the offset, or
  when its first KiB no longer hashes to the fingerprint (truncated, then written past
  the old offset before we looked), and reading starts again at 0;
* a file deleted under us is read to its end through the descriptor still open;
* a file rotated while the daemon was down is found again by device and inode
  beside its old path (fingerprint checked, so a reused inode is not mistaken for
  it) and finished from its checkpoint before the new file is read;
* files appearing later are read from their beginning; files present at the very
  first start with no checkpoint start at ``start_at`` (default ``end``);
* the positions of every matched file are known after the first scan, before anything
  is read: ``established`` (an ``asyncio.Event``) is set then, and ``checkpoint()``
  holds them, so a checkpoint written at once makes a crash in the first seconds lose
  nothing;
* a glob matching thousands of files keeps at most ``max_open`` of them open (by
  default a quarter of the soft ``RLIMIT_NOFILE``, at most 1024, raised to the hard
  limit at start): a file idle for ``IDLE_CLOSE`` with everything read and committed
  is closed and kept as a checkpoint, reopened (by device, inode and fingerprint, like
  after a restart) when its size changes or its path names another file;
* a glob that matches nothing is said: logged once (``source.no_match``), the source's
  health reason is ``waiting: no file matches`` (unhealthy after the usual grace), the
  gauge ``detector_source_files`` counts matched files per source, and
  :func:`no_match_warnings` gives ``detector validate`` its warnings.

Only whole lines are handed over; a last line without its newline waits a little
for the rest. Lines longer than ``max_line_bytes`` are cut and counted.
"""

from __future__ import annotations

import asyncio
import fnmatch
import glob
import hashlib
import os
import time
from dataclasses import dataclass, field
from typing import Any

import structlog

from detector.config import Config, FileSourceConfig
from detector.decode.events import Origin
from detector.sources.base import Batch, Emit, Health, Source
from detector.telemetry.metrics import Registry

__all__ = ["FileSource", "no_match_warnings", "raise_open_file_limit"]

log = structlog.get_logger("detector.sources.file")

READ_SIZE = 1 << 20
FINGERPRINT_BYTES = 1024
PARTIAL_FLUSH = 2.0          # a last line without newline this old is taken as it is
ROTATED_GRACE = 1.0          # a rotated file idle this long at its end is closed
RESCAN = 1.0
FINISHED_MEMORY = 86400.0    # a finished file's position is remembered this long
IDLE_CLOSE = 60.0            # a file idle this long, all read and committed, is closed
FULL_IDLE = 1.0              # …this long when max_open files are open and others wait
NO_MATCH = "waiting: no file matches"


def raise_open_file_limit() -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit; the soft limit in force."""
    try:
        import resource
    except ImportError:              # not on this platform
        return 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def no_match_warnings(config: Config) -> list[str]:
    """``file:line: …`` warnings for file sources whose glob matches no file now (for
    ``detector validate``: a typo in ``path`` means nothing is watched)."""
    warnings = []
    for source in config.sources:
        if not isinstance(source, FileSourceConfig):
            continue
        matched = [p for p in glob.glob(source.path, recursive=True)
                   if os.path.isfile(p)
                   and not any(fnmatch.fnmatch(p, x) for x in source.exclude)]
        if not matched:
            where = f"{config.path}:{source.line}: " if config.path and source.line else ""
            warnings.append(f"{where}source {source.name!r}: no file matches {source.path!r} "
                            "(yet): nothing is read until one does")
    return warnings


@dataclass
class Tailed:
    path: str                  # the path it was found under (its service comes from it)
    fd: int
    dev: int
    ino: int
    offset: int                # next byte to read
    committed: int             # bytes processed and safely past
    fingerprint: str
    fingerprint_len: int
    origin: Origin
    size: int = 0              # the size last seen
    carry: bytes = b""
    carry_since: float = 0.0
    rotated: bool = False      # the path no longer names this file: finish it and close
    done: bool = False         # rotated and read to its end (closed once committed)
    idle_since: float = field(default_factory=time.monotonic)
    waits_for: str | None = None   # key of an older file that must be finished first

    @property
    def key(self) -> str:
        return f"{self.dev}:{self.ino}"


def static_directory(pattern: str) -> str:
    """The directory a glob starts from: ``/var/log/app/*.log`` → ``/var/log/app``."""
    parts = pattern.split("/")[:-1]
    fixed = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return "/".join(fixed) or ("/" if pattern.startswith("/") else ".")


def _fingerprint(fd: int, length: int) -> str:
    return hashlib.sha1(os.pread(fd, length, 0)).hexdigest()


class FileSource(Source):
    kind = "file"

    def __init__(self, config: FileSourceConfig, registry: Registry) -> None:
        super().__init__(config, registry)
        self.file_config = config
        self.files: dict[str, Tailed] = {}          # by device:inode
        self.saved: dict[str, dict[str, Any]] = {}  # checkpoints not yet matched to a file
        self.first_scan = True
        self.skipped_lines = 0
        self.base_dir = static_directory(config.path)
        self.established = asyncio.Event()          # positions known: checkpoint() is whole
        limit = raise_open_file_limit()
        self.max_open = max(8, min(1024, limit // 4))
        self.matched = 0
        self.waiting: dict[str, str] = {}           # key → path: to open when there is room
        self.files_gauge = registry.gauge("detector_source_files",
                                          "Files a file source's glob matches now.")

    # -- checkpoints ------------------------------------------------------------------
    def restore(self, saved: dict[str, Any]) -> None:
        for item in saved.get("files", []):
            self.saved[f"{item['dev']}:{item['ino']}"] = item
        if "files" in saved:
            self.first_scan = False     # not the first start (even if nothing matched then)

    def checkpoint(self) -> dict[str, Any]:
        files = []
        for tailed in self.files.values():
            if tailed.fingerprint_len < FINGERPRINT_BYTES:
                self._refresh_fingerprint(tailed)
            files.append({"path": tailed.path, "dev": tailed.dev, "ino": tailed.ino,
                          "offset": tailed.committed, "fingerprint": tailed.fingerprint,
                          "fingerprint_len": tailed.fingerprint_len})
        files.extend(self.saved.values())        # files not seen again yet: keep them
        return {"files": files}

    async def positioned(self) -> None:
        await self.established.wait()

    def commit(self, token: Any) -> None:
        key, offset = token
        tailed = self.files.get(key)
        if tailed is not None and offset > tailed.committed:
            tailed.committed = offset

    def _refresh_fingerprint(self, tailed: Tailed) -> None:
        try:
            size = os.fstat(tailed.fd).st_size
        except OSError:
            return
        length = min(FINGERPRINT_BYTES, size)
        if length > tailed.fingerprint_len:
            tailed.fingerprint = _fingerprint(tailed.fd, length)
            tailed.fingerprint_len = length

    # -- the loop -----------------------------------------------------------------------
    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        next_scan = 0.0
        try:
            while not stop.is_set():
                now = time.monotonic()
                if now >= next_scan:
                    self._scan()
                    next_scan = now + RESCAN
                    self.established.set()
                busy = False
                for tailed in list(self.files.values()):
                    busy |= await self._read(tailed, emit)
                    if stop.is_set():
                        return
                self._park_idle()
                if self.waiting:
                    self._open_waiting()
                self._update_lag()
                if not busy and await self.sleep(stop, self.file_config.poll_interval):
                    return
        finally:
            for tailed in self.files.values():
                os.close(tailed.fd)

    def _update_lag(self) -> None:
        behind = 0
        for tailed in self.files.values():
            try:
                behind += max(0, os.fstat(tailed.fd).st_size - tailed.committed)
            except OSError:
                continue
        self.lag.set(float(behind), source=self.name, unit="bytes")

    # -- discovery ----------------------------------------------------------------------
    def _scan(self) -> None:
        pattern = self.file_config.path
        try:
            paths = sorted(glob.glob(pattern, recursive=True))
        except OSError as exc:
            self.failed("glob", exc)
            return
        if not paths and not self._directory_readable():
            return
        paths = [p for p in paths if not any(fnmatch.fnmatch(p, x)
                                              for x in self.file_config.exclude)]
        seen_keys: dict[str, str] = {}
        sizes: dict[str, int] = {}
        for path in paths:
            try:
                info = os.stat(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                self.failed("stat", f"{path}: {exc.strerror}")
                continue
            if not os.path.isfile(path):
                continue
            seen_keys[path] = f"{info.st_dev}:{info.st_ino}"
            sizes[path] = info.st_size
        self.matched = len(seen_keys)
        self.files_gauge.set(float(len(seen_keys)), source=self.name)
        if not seen_keys and not self.files:
            if self.health.reason != NO_MATCH:
                log.warning("source.no_match", source=self.name, path=pattern)
                self.health = Health(ok=False, reason=NO_MATCH)
        elif self.health.reason == NO_MATCH:
            self.recovered()
        # Files whose path now names another inode (or nothing): rotated or deleted.
        for tailed in self.files.values():
            if not tailed.rotated and seen_keys.get(tailed.path) != tailed.key:
                tailed.rotated = True
                log.info("file.rotated", source=self.name, path=tailed.path,
                         offset=tailed.offset)
        # Checkpoints of files that moved while we were down: find them by inode.
        if self.saved:
            self._recover_moved(set(seen_keys.values()))
        for path, key in seen_keys.items():
            if key in self.files:
                continue
            saved = self.saved.get(key)
            if saved is not None and "finished" not in saved and saved["offset"] == sizes[path]:
                continue                 # closed while idle and unchanged since: leave it
            if len(self.files) >= self.max_open or key in self.waiting:
                if saved is None:
                    self._park_new(path, key)
                self.waiting.setdefault(key, path)   # opened when another file makes room
                continue
            self._open(path, key)
        self.first_scan = False

    def _directory_readable(self) -> bool:
        """glob() says nothing about a directory it cannot list: say it (missing is fine)."""
        try:
            with os.scandir(self.base_dir):
                pass
        except FileNotFoundError:
            return True
        except OSError as exc:
            self.failed("permission" if isinstance(exc, PermissionError) else "directory",
                        f"{self.base_dir}: cannot list it ({exc.strerror})")
            return False
        if not self.health.ok and self.health.reason.startswith(("permission", "directory")):
            self.recovered()
        return True

    def _recover_moved(self, visible: set[str]) -> None:
        now = time.time()
        for key, item in list(self.saved.items()):
            if "finished" in item:
                # Read to its end already; remembered so a glob that also matches its
                # rotated name does not read it again.
                if now - item["finished"] > FINISHED_MEMORY:
                    del self.saved[key]
                continue
            if key in visible:
                continue
            directory = os.path.dirname(item["path"]) or "."
            try:
                entries = list(os.scandir(directory))
            except OSError:
                continue
            for entry in entries:
                try:
                    info = entry.stat()
                except OSError:
                    continue
                if f"{info.st_dev}:{info.st_ino}" == key and entry.is_file():
                    tailed = self._open(item["path"], key, real_path=entry.path)
                    if tailed is not None:
                        tailed.rotated = True
                        log.info("file.recovered", source=self.name, path=entry.path,
                                 was=item["path"], offset=tailed.offset)
                    break
            else:
                # Gone for good (deleted while we were down): forget it.
                del self.saved[key]

    def _open(self, path: str, key: str, real_path: str | None = None) -> Tailed | None:
        try:
            fd = os.open(real_path or path, os.O_RDONLY | os.O_CLOEXEC)
        except PermissionError as exc:
            self.failed("permission", f"{real_path or path}: {exc.strerror}")
            return None
        except OSError as exc:
            self.failed("open", f"{real_path or path}: {exc.strerror}")
            return None
        info = os.fstat(fd)
        actual = f"{info.st_dev}:{info.st_ino}"
        if actual != key:          # it was replaced between stat and open: next scan
            os.close(fd)
            return None
        saved = self.saved.pop(key, None)
        offset = 0
        finished = saved is not None and "finished" in saved
        length = min(FINGERPRINT_BYTES, info.st_size)
        fingerprint = _fingerprint(fd, length)
        if saved is not None:
            same = (saved["fingerprint_len"] <= info.st_size and saved["fingerprint"]
                    == _fingerprint(fd, saved["fingerprint_len"]))
            if same and saved["offset"] <= info.st_size:
                offset = saved["offset"]
            elif same:
                offset = 0                     # truncated while we were down
            else:
                log.info("file.inode_reused", source=self.name, path=path)
        elif self.first_scan and self.file_config.start_at == "end":
            offset = info.st_size
        origin = Origin.for_path(saved["path"] if finished and saved else path,
                                 override=self.config.service, format=self.config.format)
        tailed = Tailed(path=path, fd=fd, dev=info.st_dev, ino=info.st_ino, offset=offset,
                        committed=offset, fingerprint=fingerprint, fingerprint_len=length,
                        origin=origin, size=info.st_size)
        # A newer file at a path whose older file is still being finished waits for it.
        for other in self.files.values():
            if other.path == path and other.rotated:
                tailed.waits_for = other.key
        self.files[key] = tailed
        self.recovered()
        log.info("file.opened", source=self.name, path=real_path or path, offset=offset)
        return tailed

    # -- reading ------------------------------------------------------------------------
    async def _read(self, tailed: Tailed, emit: Emit) -> bool:
        """Read what is there; True if something was read."""
        if tailed.waits_for is not None:
            older = self.files.get(tailed.waits_for)
            if older is not None and not older.done:
                return False
            tailed.waits_for = None
        try:
            size = os.fstat(tailed.fd).st_size
        except OSError as exc:
            self.failed("read", f"{tailed.path}: {exc}")
            return False
        grew, tailed.size = size > tailed.size, size
        if size < tailed.offset or (grew and tailed.fingerprint_len and tailed.offset
                                    and _fingerprint(tailed.fd, tailed.fingerprint_len)
                                    != tailed.fingerprint):
            log.warning("file.truncated", source=self.name, path=tailed.path,
                        offset=tailed.offset, size=size)
            tailed.offset = tailed.committed = 0
            tailed.carry = b""
            tailed.fingerprint = _fingerprint(tailed.fd, min(FINGERPRINT_BYTES, size))
            tailed.fingerprint_len = min(FINGERPRINT_BYTES, size)
        now = time.monotonic()
        if size == tailed.offset:
            if tailed.carry and now - tailed.carry_since >= PARTIAL_FLUSH:
                data, tailed.carry = tailed.carry + b"\n", b""
                await self._emit(tailed, emit, data, tailed.offset)
                return True
            if tailed.rotated and now - tailed.idle_since >= ROTATED_GRACE:
                tailed.done = True
                if tailed.committed >= tailed.offset:
                    self._close(tailed)
            return False
        tailed.idle_since = now
        try:
            data = os.pread(tailed.fd, READ_SIZE, tailed.offset)
        except OSError as exc:
            self.failed("read", f"{tailed.path}: {exc}")
            return False
        if not data:
            return False
        tailed.offset += len(data)
        buf = tailed.carry + data if tailed.carry else data
        cut = buf.rfind(b"\n") + 1
        carry = buf[cut:]
        limit = self.file_config.max_line_bytes
        if len(carry) > limit:
            # A runaway line: take its head, skip to its end.
            self.skipped_lines += 1
            whole = buf[:cut] + carry[:limit] + b"\n"
            tailed.carry = b""
            await self._skip_rest_of_line(tailed)
            await self._emit(tailed, emit, whole, tailed.offset)
            return True
        if carry and carry != tailed.carry:
            tailed.carry_since = now
        tailed.carry = carry
        if cut:
            await self._emit(tailed, emit, buf[:cut], tailed.offset - len(carry))
        self.recovered()
        return True

    async def _skip_rest_of_line(self, tailed: Tailed) -> None:
        while True:
            data = os.pread(tailed.fd, READ_SIZE, tailed.offset)
            if not data:
                return
            newline = data.find(b"\n")
            if newline >= 0:
                tailed.offset += newline + 1
                return
            tailed.offset += len(data)

    async def _emit(self, tailed: Tailed, emit: Emit, data: bytes, end_offset: int) -> None:
        self.counted(data.count(b"\n"), len(data))
        await emit(Batch(source=self, stream=tailed.key, origin=tailed.origin, data=data,
                         arrival=time.time(), token=(tailed.key, end_offset)))

    # -- a bounded set of open files ----------------------------------------------------
    def _park_new(self, path: str, key: str) -> None:
        """A file found while ``max_open`` files are open: its position is taken now (a
        checkpoint, as after a restart) and it is opened when there is room."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            self.failed("open", f"{path}: {exc.strerror}")
            return
        try:
            info = os.fstat(fd)
            if f"{info.st_dev}:{info.st_ino}" != key:
                return
            length = min(FINGERPRINT_BYTES, info.st_size)
            start_at_end = self.first_scan and self.file_config.start_at == "end"
            self.saved[key] = {
                "path": path, "dev": info.st_dev, "ino": info.st_ino,
                "offset": info.st_size if start_at_end else 0,
                "fingerprint": _fingerprint(fd, length), "fingerprint_len": length}
        finally:
            os.close(fd)

    def _park_idle(self) -> None:
        """Close files idle for ``IDLE_CLOSE`` whose lines are all read and committed;
        while others wait for room, close the longest idle of those at once."""
        now = time.monotonic()
        room = len(self.waiting) if len(self.files) >= self.max_open else 0
        idle = sorted((t for t in self.files.values()
                       if not t.rotated and not t.carry and t.waits_for is None
                       and t.committed >= t.offset),
                      key=lambda t: t.idle_since)
        for tailed in idle:
            waited = now - tailed.idle_since
            if waited >= IDLE_CLOSE or (room > 0 and waited >= FULL_IDLE):
                room -= 1
                self._park(tailed)
            else:
                break

    def _open_waiting(self) -> None:
        """Open files that waited for room, in the order they were found."""
        while self.waiting and len(self.files) < self.max_open:
            key = next(iter(self.waiting))
            path = self.waiting.pop(key)
            try:
                info = os.stat(path)
            except OSError:
                continue                 # gone or moved: the next scan finds it by inode
            saved = self.saved.get(key)
            if f"{info.st_dev}:{info.st_ino}" != key or key in self.files or (
                    saved is not None and saved["offset"] == info.st_size):
                continue
            self._open(path, key)

    def _park(self, tailed: Tailed) -> None:
        self._refresh_fingerprint(tailed)
        self.saved[tailed.key] = {
            "path": tailed.path, "dev": tailed.dev, "ino": tailed.ino,
            "offset": tailed.committed, "fingerprint": tailed.fingerprint,
            "fingerprint_len": tailed.fingerprint_len}
        os.close(tailed.fd)
        del self.files[tailed.key]

    def _close(self, tailed: Tailed) -> None:
        """A finished file whose lines are all committed: remember its end, let it go."""
        log.info("file.closed", source=self.name, path=tailed.path, offset=tailed.offset)
        self.saved[tailed.key] = {
            "path": tailed.path, "dev": tailed.dev, "ino": tailed.ino,
            "offset": tailed.committed, "fingerprint": tailed.fingerprint,
            "fingerprint_len": tailed.fingerprint_len, "finished": time.time()}
        os.close(tailed.fd)
        del self.files[tailed.key]

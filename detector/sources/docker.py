"""Docker: container logs from the engine API, or from json-file logs on disk.

API mode talks to the engine over its Unix socket (httpx): it lists running
containers (filtered by ``containers`` name globs and ``labels``), follows each
one's logs with timestamps from its checkpoint, and attaches to containers that
start later (``/events``). Without a TTY the log stream is multiplexed: 8-byte
frame headers ``[stream, 0, 0, 0, size (uint32, big-endian)]`` before each
payload; with a TTY it is raw. Docker splits lines longer than 16 KB into
partial messages, each with its own timestamp: they are merged back. The
service is the container's ``service_label`` (Compose's service name by default)
or its name. The checkpoint is the timestamp of the last line handled, per
container; lines at or before it are not handed over twice.

json-file mode (``json_files``) follows ``/var/lib/docker/containers/*/*-json.log``
like any file, for hosts and sidecars without the socket; each container's name
comes from the ``config.v2.json`` beside its log.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import os
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import structlog

from detector.config import DockerSourceConfig, FileSourceConfig
from detector.decode.events import Origin
from detector.decode.timestamps import parse_iso
from detector.sources.base import Batch, Emit, Source
from detector.sources.file import FileSource
from detector.telemetry.metrics import Registry

__all__ = ["DockerFileSource", "DockerSource", "FrameDecoder"]

log = structlog.get_logger("detector.sources.docker")

HEADER = struct.Struct(">BxxxI")
MAX_FRAME = 1 << 24          # a frame claiming more than this is corrupt


class FrameError(ValueError):
    """The multiplexed stream is not what the engine sends."""


class FrameDecoder:
    """Bytes of a multiplexed log stream in, (stream, payload) frames out."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self.buffer += data
        frames = []
        while len(self.buffer) >= HEADER.size:
            kind, size = HEADER.unpack_from(self.buffer)
            if kind > 3 or size > MAX_FRAME:
                raise FrameError(f"bad frame header {bytes(self.buffer[:8])!r}")
            if len(self.buffer) < HEADER.size + size:
                break
            frames.append((kind, bytes(self.buffer[HEADER.size:HEADER.size + size])))
            del self.buffer[:HEADER.size + size]
        return frames


@dataclass
class Follow:
    id: str
    name: str
    service: str
    tty: bool
    since: float = 0.0                       # checkpoint: last line's time (epoch, ns precision)
    committed: float = 0.0
    task: asyncio.Task[None] | None = field(default=None, repr=False)


def _split_timestamp(line: bytes) -> tuple[float | None, bytes]:
    """``2026-11-20T10:00:00.123456789Z message`` → (epoch, line as it is)."""
    space = line.find(b" ")
    if 20 <= space <= 40:
        when = parse_iso(line[:space].decode("ascii", "replace"))
        if when is not None:
            return when, line
    return None, line


class DockerSource(Source):
    kind = "docker"

    def __init__(self, config: DockerSourceConfig, registry: Registry) -> None:
        super().__init__(config, registry)
        self.docker = config
        self.follows: dict[str, Follow] = {}
        self.saved: dict[str, float] = {}
        self.client: httpx.AsyncClient | None = None

    # -- checkpoints ------------------------------------------------------------------
    def restore(self, saved: dict[str, Any]) -> None:
        self.saved = {k: float(v) for k, v in saved.get("containers", {}).items()}

    def checkpoint(self) -> dict[str, Any]:
        merged = dict(self.saved)
        merged.update({f.id: f.committed for f in self.follows.values() if f.committed})
        return {"containers": merged}

    def commit(self, token: Any) -> None:
        container, when = token
        follow = self.follows.get(container)
        if follow is not None and when > follow.committed:
            follow.committed = when

    # -- the loop ---------------------------------------------------------------------
    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        transport = httpx.AsyncHTTPTransport(uds=self.docker.socket)
        async with httpx.AsyncClient(transport=transport, base_url="http://docker",
                                     timeout=httpx.Timeout(10.0, read=None)) as client:
            self.client = client
            attempt = 0
            stopping = asyncio.ensure_future(stop.wait())
            try:
                while not stop.is_set():
                    watch = asyncio.ensure_future(self._watch(client, emit, stop))
                    await asyncio.wait({watch, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    if not watch.done():
                        watch.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await watch
                        break
                    error = watch.exception()
                    if error is not None:
                        self.failed("engine", f"{self.docker.socket}: {error}")
                        attempt += 1
                    else:
                        attempt = 0
                    if await self.sleep(stop, self.backoff(attempt)):
                        break
            finally:
                stopping.cancel()
                for follow in list(self.follows.values()):
                    if follow.task is not None:
                        follow.task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await follow.task

    async def _watch(self, client: httpx.AsyncClient, emit: Emit, stop: asyncio.Event) -> None:
        """List containers, follow the matching ones, and follow new ones from /events."""
        filters = {"type": ["container"], "event": ["start"]}
        async with client.stream("GET", "/events",
                                 params={"filters": json.dumps(filters)}) as events:
            if events.status_code != 200:
                raise httpx.HTTPStatusError(f"/events answered {events.status_code}",
                                            request=events.request, response=events)
            listing = await client.get("/containers/json")
            listing.raise_for_status()
            for item in listing.json():
                await self._maybe_follow(client, item["Id"], emit, stop)
            self.recovered()
            buffer = b""
            async for chunk in events.aiter_bytes():
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if not line.strip():
                        continue
                    event = orjson.loads(line)
                    if event.get("Action") == "start" or event.get("status") == "start":
                        await self._maybe_follow(client, event["id"], emit, stop)

    async def _maybe_follow(self, client: httpx.AsyncClient, container: str, emit: Emit,
                            stop: asyncio.Event) -> None:
        existing = self.follows.get(container)
        if existing is not None and existing.task is not None and not existing.task.done():
            return
        response = await client.get(f"/containers/{container}/json")
        if response.status_code == 404:
            return
        response.raise_for_status()
        info = response.json()
        name = info.get("Name", "").lstrip("/") or container[:12]
        labels = (info.get("Config") or {}).get("Labels") or {}
        if self.docker.containers and not any(fnmatch.fnmatchcase(name, g)
                                              for g in self.docker.containers):
            return
        for want in self.docker.labels:
            key, _, value = want.partition("=")
            if key not in labels or (value and labels[key] != value):
                return
        service = self.config.service or labels.get(self.docker.service_label) or name
        since = self.saved.get(container, existing.committed if existing else 0.0)
        follow = Follow(id=container, name=name, service=service,
                        tty=bool((info.get("Config") or {}).get("Tty")), since=since,
                        committed=since)
        if not since and self.docker.start_at == "end":
            follow.since = follow.committed = time.time()
        self.follows[container] = follow
        follow.task = asyncio.create_task(self._follow(client, follow, emit, stop),
                                          name=f"docker:{name}")
        log.info("docker.following", source=self.name, container=name, since=follow.since)

    async def _follow(self, client: httpx.AsyncClient, follow: Follow, emit: Emit,
                      stop: asyncio.Event) -> None:
        """Follow one container's logs until it stops; reconnect from the last line after
        a broken stream or a corrupt frame (nothing skipped, nothing repeated)."""
        origin = Origin(source=f"docker:{follow.name}", service=follow.service,
                        override=self.config.service, allow_json=self.config.format != "plain")
        attempt = 0
        while not stop.is_set():
            try:
                ended = await self._stream(client, follow, emit, origin)
                attempt = 0
                if ended:
                    return
            except FrameError as exc:
                self.failed("frame", f"{follow.name}: {exc}")
                attempt += 1
            except httpx.HTTPError as exc:
                self.failed("logs", f"{follow.name}: {exc!r}")
                attempt += 1
            if await self.sleep(stop, self.backoff(attempt)):
                return

    async def _stream(self, client: httpx.AsyncClient, follow: Follow, emit: Emit,
                      origin: Origin) -> bool:
        """One logs request; True when the container's stream ended normally."""
        params = {"follow": "1", "stdout": "1", "stderr": "1", "timestamps": "1"}
        if follow.since:
            params["since"] = f"{follow.since:.9f}"
        decoder = FrameDecoder()
        partial: dict[int, bytes] = {}
        async with client.stream("GET", f"/containers/{follow.id}/logs",
                                 params=params) as response:
            if response.status_code == 404:
                return True
            if response.status_code != 200:
                raise httpx.HTTPStatusError(f"logs answered {response.status_code}",
                                            request=response.request, response=response)
            self.recovered()
            async for chunk in response.aiter_bytes():
                frames = [(1, chunk)] if follow.tty else decoder.feed(chunk)
                pending: list[bytes] = []
                last = follow.since
                for kind, payload in frames:
                    for line, when in self._lines(kind, payload, partial, follow.tty):
                        if when is not None:
                            if when <= follow.since:
                                continue         # handed over before (a reconnect)
                            last = when
                        pending.append(line)
                if pending:
                    await self._flush(emit, follow, origin, pending, last)
                    follow.since = max(follow.since, last)
        return True

    def _lines(self, kind: int, payload: bytes, partial: dict[int, bytes],
               tty: bool) -> list[tuple[bytes, float | None]]:
        """Whole lines of a payload, partial 16 KB pieces merged (their timestamps dropped)."""
        lines = []
        data = payload
        for piece in data.splitlines(keepends=True):
            when, piece = _split_timestamp(piece)
            held = partial.pop(kind, b"")
            if held:
                # a continuation: strip its own timestamp, keep the first piece's
                if when is not None:
                    piece = piece.split(b" ", 1)[1] if b" " in piece else piece
                piece = held + piece
                when, _ = _split_timestamp(piece)
            if not piece.endswith(b"\n"):
                partial[kind] = piece
                continue
            lines.append((piece.rstrip(b"\r\n") + b"\n", when))
        return lines

    async def _flush(self, emit: Emit, follow: Follow, origin: Origin, lines: list[bytes],
                     last: float) -> None:
        data = b"".join(lines)
        self.counted(len(lines), len(data))
        self.lag.set(max(0.0, time.time() - last), source=self.name, unit="seconds")
        await emit(Batch(source=self, stream=f"docker:{follow.id}", origin=origin, data=data,
                         arrival=time.time(), token=(follow.id, last)))


class DockerFileSource(FileSource):
    """json-file logs on disk, named from each container's ``config.v2.json``."""

    kind = "docker"

    def __init__(self, config: DockerSourceConfig, registry: Registry) -> None:
        file_config = FileSourceConfig(
            type="file", name=config.name, service=config.service, format="docker",
            max_silence=config.max_silence, line=config.line, path=config.json_files,
            start_at=config.start_at)
        super().__init__(file_config, registry)
        self.docker = config
        self.names: dict[str, str] = {}

    def _open(self, path: str, key: str, real_path: str | None = None) -> Any:
        tailed = super()._open(path, key, real_path)
        if tailed is not None:
            name = self._container_name(os.path.dirname(real_path or path))
            tailed.origin = Origin(source=f"docker:{name}", service=name,
                                   override=self.config.service, allow_json=True)
        return tailed

    def _container_name(self, directory: str) -> str:
        if directory in self.names:
            return self.names[directory]
        name = os.path.basename(directory)[:12]
        try:
            with open(os.path.join(directory, "config.v2.json"), "rb") as handle:
                config = orjson.loads(handle.read())
            labels = (config.get("Config") or {}).get("Labels") or {}
            name = labels.get(self.docker.service_label) or config.get("Name", "").lstrip("/") \
                or name
        except (OSError, ValueError):
            pass
        self.names[directory] = name
        return name

"""A Docker engine for tests: the engine API on a Unix socket, byte for byte.

No engine can run here, so this speaks the parts the detector uses exactly as
dockerd does: HTTP/1.1 with chunked bodies; ``GET /containers/json``,
``/containers/{id}/json``, ``/containers/{id}/logs`` (``follow``, ``since``,
``timestamps``; 8-byte multiplexed frames ``[stream, 0, 0, 0, uint32 size]`` for
containers without a TTY, the raw stream for TTY ones; messages over 16 KB split
into partial messages each with its own timestamp), and ``GET /events`` (one
JSON object per line, kept open).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

PARTIAL = 16 * 1024


def rfc3339(ns: int) -> str:
    seconds, nanos = divmod(ns, 10**9)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


@dataclass
class Container:
    id: str
    name: str
    tty: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    entries: list[tuple[int, int, bytes]] = field(default_factory=list)   # (ns, stream, msg)
    running: bool = True


class FakeDocker:
    def __init__(self, socket_path: Path) -> None:
        self.path = socket_path
        self.containers: dict[str, Container] = {}
        self.corrupt_next_frame = False
        self.requests: list[str] = []
        self._changed: asyncio.Condition | None = None
        self._events: list[dict[str, object]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._serve_forever, daemon=True)
        self._ready = threading.Event()
        self._server: asyncio.AbstractServer | None = None

    # -- control from the test (any thread) -----------------------------------------
    def __enter__(self) -> FakeDocker:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _poke(self) -> None:
        async def notify() -> None:
            assert self._changed is not None
            async with self._changed:
                self._changed.notify_all()

        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(notify(), self._loop).result(5)

    def add(self, container: Container, announce: bool = False) -> None:
        self.containers[container.id] = container
        if announce:
            self._events.append({"status": "start", "id": container.id, "from": "app:latest",
                                 "Type": "container", "Action": "start",
                                 "Actor": {"ID": container.id,
                                           "Attributes": {"name": container.name}},
                                 "scope": "local", "time": int(time.time()),
                                 "timeNano": time.time_ns()})
        self._poke()

    def log(self, container_id: str, message: str, stream: int = 1,
            when_ns: int | None = None) -> None:
        """Write one message (a newline is added) the way the json-file driver stores it."""
        ns = when_ns or time.time_ns()
        data = message.encode() + b"\n"
        container = self.containers[container_id]
        while len(data) > PARTIAL:
            container.entries.append((ns, stream, data[:PARTIAL]))
            data = data[PARTIAL:]
            ns += 1
        container.entries.append((ns, stream, data))
        self._poke()

    # -- the server ---------------------------------------------------------------------
    def _serve_forever(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._changed = asyncio.Condition()

        async def start() -> None:
            self._server = await asyncio.start_unix_server(self._handle, path=str(self.path))

        self._loop.run_until_complete(start())
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line = head.split(b"\r\n", 1)[0].decode()
                method, target, _ = line.split(" ", 2)
                self.requests.append(f"{method} {target}")
                url = urllib.parse.urlsplit(target)
                query = dict(urllib.parse.parse_qsl(url.query))
                parts = url.path.strip("/").split("/")
                if url.path.rstrip("/").endswith("/events"):
                    await self._events_stream(writer)
                    return
                if parts[-1] == "json" and parts[-2] == "containers":
                    await self._json(writer, [self._summary(c) for c in self.containers.values()
                                              if c.running])
                elif len(parts) >= 3 and parts[-3] == "containers" and parts[-1] == "json":
                    container = self.containers.get(parts[-2])
                    if container is None:
                        await self._json(writer, {"message": "No such container"}, 404)
                    else:
                        await self._json(writer, self._inspect(container))
                elif len(parts) >= 3 and parts[-3] == "containers" and parts[-1] == "logs":
                    await self._logs(writer, self.containers[parts[-2]], query)
                    return
                else:
                    await self._json(writer, {"message": "page not found"}, 404)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    @staticmethod
    def _summary(container: Container) -> dict[str, object]:
        return {"Id": container.id, "Names": [f"/{container.name}"], "Image": "app:latest",
                "Labels": container.labels, "State": "running", "Status": "Up 5 minutes"}

    @staticmethod
    def _inspect(container: Container) -> dict[str, object]:
        return {"Id": container.id, "Name": f"/{container.name}",
                "Config": {"Tty": container.tty, "Labels": container.labels},
                "State": {"Running": container.running, "Status": "running"}}

    @staticmethod
    def _headers(kind: str, extra: str = "") -> bytes:
        return (f"HTTP/1.1 200 OK\r\nApi-Version: 1.44\r\nContent-Type: {kind}\r\n"
                f"Docker-Experimental: false\r\nOstype: linux\r\nServer: Docker/25.0.3 (linux)"
                f"\r\nDate: {time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime())}\r\n"
                f"{extra}").encode()

    async def _json(self, writer: asyncio.StreamWriter, value: object, status: int = 200) -> None:
        body = json.dumps(value).encode() + b"\n"
        reason = {200: "OK", 404: "Not Found"}[status]
        writer.write(f"HTTP/1.1 {status} {reason}\r\nApi-Version: 1.44\r\nContent-Type: "
                     f"application/json\r\nServer: Docker/25.0.3 (linux)\r\nContent-Length: "
                     f"{len(body)}\r\n\r\n".encode() + body)
        await writer.drain()

    @staticmethod
    async def _chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        await writer.drain()

    async def _logs(self, writer: asyncio.StreamWriter, container: Container,
                    query: dict[str, str]) -> None:
        kind = ("application/vnd.docker.raw-stream" if container.tty
                else "application/vnd.docker.multiplexed-stream")
        writer.write(self._headers(kind, "Transfer-Encoding: chunked\r\n\r\n"))
        await writer.drain()
        since = float(query.get("since", "0") or 0)
        since_ns = round(since * 1e9)
        sent = 0
        assert self._changed is not None
        while True:
            for ns, stream, message in container.entries[sent:]:
                sent += 1
                if since and ns <= since_ns:
                    continue
                payload = (rfc3339(ns).encode() + b" " if query.get("timestamps") == "1"
                           else b"") + message
                if container.tty:
                    frame = payload
                else:
                    size = len(payload)
                    if self.corrupt_next_frame:
                        self.corrupt_next_frame = False
                        size = 0x7FFFFFFF
                    frame = struct.pack(">BxxxI", stream, size) + payload
                await self._chunk(writer, frame)
            if query.get("follow") != "1" or not container.running:
                await self._chunk(writer, b"")
                return
            async with self._changed:
                await self._changed.wait()

    async def _events_stream(self, writer: asyncio.StreamWriter) -> None:
        writer.write(self._headers("application/json", "Transfer-Encoding: chunked\r\n\r\n"))
        await writer.drain()
        sent = len(self._events)
        assert self._changed is not None
        while True:
            async with self._changed:
                await self._changed.wait()
            for event in self._events[sent:]:
                sent += 1
                await self._chunk(writer, json.dumps(event).encode() + b"\n")

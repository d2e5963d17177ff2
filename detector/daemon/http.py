"""The daemon's HTTP endpoint: ``/metrics``, ``/healthz``, ``/incidents``.

A deliberately small HTTP/1.1 server on asyncio: GET only, one request per
connection. ``/metrics`` is the Prometheus text format; ``/healthz`` answers 200
when every source is healthy, else 503 with the reasons as JSON; ``/incidents``
lists the open incidents (the same JSON as their events).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import orjson

__all__ = ["HttpServer"]

Route = Callable[[], tuple[int, str, bytes]]


class HttpServer:
    def __init__(self, listen: str, routes: dict[str, Route]) -> None:
        host, _, port = listen.rpartition(":")
        self.host = host.strip("[]")
        self.port = int(port)
        self.routes = routes
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> HttpServer:
        self.server = await asyncio.start_server(self._serve, self.host, self.port)
        sockets = self.server.sockets
        if sockets:
            self.port = sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10.0)
            method, _, rest = request.partition(b" ")
            target = rest.split(b" ", 1)[0].decode("latin-1")
            path = target.split("?", 1)[0]
            if method not in (b"GET", b"HEAD"):
                status, kind, body = 405, "text/plain", b"method not allowed\n"
            elif path in self.routes:
                status, kind, body = self.routes[path]()
            else:
                status, kind, body = 404, "text/plain", b"not found\n"
            reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed",
                      503: "Service Unavailable"}.get(status, "OK")
            head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
            writer.write(head + (b"" if method == b"HEAD" else body))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def json_response(value: Any, status: int = 200) -> tuple[int, str, bytes]:
    return status, "application/json", orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n"

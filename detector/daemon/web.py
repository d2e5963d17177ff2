"""The daemon's HTTP endpoint: ``aiohttp.web`` on the daemon's own event loop.

The endpoint must never make log processing wait, whatever its clients do. So:

- at most ``[http] max_connections`` connections are open at once; one more closes the
  connection that has been idle longest (a slow or half-open client), so 3,000 slow
  clients hold at most that many descriptors and a real request still gets in;
- a connection that sends nothing for ``REQUEST_TIMEOUT`` seconds, or lives longer than
  ``MAX_LIFETIME``, is cut (a slowloris cannot hold a slot by dribbling bytes); idle
  keep-alive connections close after ``KEEPALIVE``;
- request lines and headers are capped (8 KiB), bodies at ``MAX_BODY``;
- every handler is quick and synchronous work on data in memory (or one indexed
  SQLite query), never a wait on anything outside.

Access (``[http] token``): writes need the bearer token, and are refused when the
endpoint listens beyond loopback without one; ``token_for_reads`` makes every read
but ``/healthz`` need it too. A browser may give the token as the password of HTTP Basic
authentication (any user name). Writes must be JSON (``Content-Type:
application/json``), which a cross-site form cannot send.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import time
from collections.abc import Awaitable, Callable
from typing import cast

import structlog
from aiohttp import web
from multidict import CIMultiDict

from detector.config import HttpConfig
from detector.telemetry.metrics import Counter, Registry

__all__ = ["WebServer", "json_error"]

log = structlog.get_logger("detector.daemon.web")

REQUEST_TIMEOUT = 10.0        # seconds without a byte from the client before it is cut
MAX_LIFETIME = 60.0           # seconds a connection may live at all
KEEPALIVE = 5.0               # idle keep-alive connections close after this
MAX_BODY = 64 << 10
BACKLOG = 1024
REAP_EVERY = 1.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


class _Guard(asyncio.Protocol):
    """Sits in front of aiohttp's protocol for one connection: counts it, notes when it
    last sent something, and lets the server cut it."""

    def __init__(self, server: WebServer, inner: asyncio.Protocol) -> None:
        self.server = server
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.started = self.last = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)    # uvloop's is not a subclass
        self.server._admit(self)
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.last = time.monotonic()
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._connections.discard(self)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def cut(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()


class _Site(web.BaseSite):
    """A TCP site whose connections go through a :class:`_Guard`."""

    def __init__(self, runner: web.BaseRunner, server: WebServer) -> None:
        super().__init__(runner, backlog=BACKLOG)
        self.owner = server

    @property
    def name(self) -> str:
        return f"http://{self.owner.host}:{self.owner.port}"

    async def start(self) -> None:
        await super().start()
        inner = self._runner.server
        assert inner is not None
        owner = self.owner

        def factory() -> asyncio.Protocol:
            return _Guard(owner, inner())

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(factory, owner.host, owner.port,
                                                backlog=BACKLOG, reuse_address=True)
        if self._server.sockets:
            owner.port = self._server.sockets[0].getsockname()[1]


class WebServer:
    """``async with WebServer(config, routes, registry):`` serves until the block ends."""

    def __init__(self, config: HttpConfig, routes: list[web.RouteDef],
                 registry: Registry | None = None) -> None:
        assert config.listen
        host, _, port = config.listen.rpartition(":")
        self.host = host.strip("[]")
        self.port = int(port)
        self.config = config
        self.max_connections = config.max_connections
        self._connections: set[_Guard] = set()
        self.app = web.Application(client_max_size=MAX_BODY, middlewares=[self._access])
        self.app.add_routes(routes)
        self.runner = web.AppRunner(self.app, handle_signals=False, access_log=None,
                                    keepalive_timeout=KEEPALIVE, shutdown_timeout=1.0)
        self._reaper: asyncio.Task[None] | None = None
        self.cut: Counter | None = None
        self.evicted: Counter | None = None
        if registry is not None:
            self.cut = registry.counter("detector_http_connections_cut_total",
                                        "HTTP connections closed for being slow or idle.")
            self.evicted = registry.counter(
                "detector_http_connections_evicted_total",
                "HTTP connections closed to make room under max_connections.")
            registry.gauge("detector_http_connections", "Open HTTP connections.",
                           lambda: [({}, float(len(self._connections)))])

    async def __aenter__(self) -> WebServer:
        await self.runner.setup()
        try:
            await _Site(self.runner, self).start()
        except BaseException:
            await self.runner.cleanup()
            raise
        self._reaper = asyncio.create_task(self._reap(), name="http-reaper")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for guard in list(self._connections):
            guard.cut()
        await self.runner.cleanup()

    # -- connection limits --------------------------------------------------------------
    def _admit(self, guard: _Guard) -> None:
        if len(self._connections) >= self.max_connections:
            victim = min(self._connections, key=lambda g: g.last)
            self._connections.discard(victim)
            victim.cut()
            if self.evicted is not None:
                self.evicted.inc()
        self._connections.add(guard)

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(REAP_EVERY)
            now = time.monotonic()
            for guard in list(self._connections):
                if now - guard.last > REQUEST_TIMEOUT or now - guard.started > MAX_LIFETIME:
                    self._connections.discard(guard)
                    guard.cut()
                    if self.cut is not None:
                        self.cut.inc()

    # -- access -------------------------------------------------------------------------
    @web.middleware
    async def _access(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        config = self.config
        writing = request.method not in ("GET", "HEAD", "OPTIONS")
        if writing:
            if config.token is None and not config.loopback:
                return json_error(403, "writes need [http] token when the endpoint listens "
                                       "beyond loopback")
            if config.token is not None and not self._authorised(request):
                return self._challenge()
            if request.method == "POST" and request.content_type != "application/json":
                return json_error(415, "send JSON (Content-Type: application/json)")
        elif config.token_for_reads and request.path != "/healthz" \
                and not self._authorised(request):
            return self._challenge()
        return await handler(request)

    def _authorised(self, request: web.Request) -> bool:
        token = self.config.token
        if token is None:
            return True
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        given = ""
        if scheme.lower() == "bearer":
            given = value.strip()
        elif scheme.lower() == "basic":
            try:
                given = base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
            except (binascii.Error, UnicodeDecodeError):
                given = ""
        return hmac.compare_digest(given.encode(), token.encode())

    @staticmethod
    def _challenge() -> web.Response:
        headers: CIMultiDict[str] = CIMultiDict()
        headers.add("WWW-Authenticate", 'Bearer realm="detector"')
        headers.add("WWW-Authenticate", 'Basic realm="detector", charset="UTF-8"')
        return web.json_response({"error": "this needs the [http] token (Authorization: "
                                           "Bearer TOKEN)"}, status=401, headers=headers)

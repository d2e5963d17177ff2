"""Grafana Loki: polling ``/loki/api/v1/query_range`` forward from a nanosecond cursor.

Each poll asks for ``[cursor, now)`` with ``direction=forward``; entries at the
cursor's own nanosecond that were already handed over are recognised (by
stream and line) and skipped, so a poll that starts where the last one ended
repeats nothing. A full page (``limit`` entries) is followed at once by the
next. ``X-Scope-OrgID`` carries the tenant; 429 and 5xx back off (honouring
``Retry-After``); an answer that is not Loki's JSON is counted and retried. The
service comes from the first present of ``service_labels``.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson
import structlog

from detector.config import LokiSourceConfig
from detector.decode.events import Origin
from detector.notify.base import parse_retry_after
from detector.sources._records import record_lines
from detector.sources.base import Batch, Emit
from detector.sources.cursor import Cursor, CursorSource
from detector.telemetry.metrics import Registry

__all__ = ["LokiSource"]

log = structlog.get_logger("detector.sources.loki")
LOOKBACK_NS = 24 * 3600 * 10**9      # start_at = beginning: the last day


class LokiSource(CursorSource):
    kind = "loki"

    def __init__(self, config: LokiSourceConfig, registry: Registry) -> None:
        super().__init__(config, registry)
        self.loki = config
        self.cursor = Cursor("cursor", "at_cursor")   # in ns; ids are stream+line keys

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        headers = dict(self.loki.headers)
        if self.loki.tenant:
            headers["X-Scope-OrgID"] = self.loki.tenant
        attempt = 0
        async with httpx.AsyncClient(base_url=self.loki.url, headers=headers,
                                     timeout=self.loki.timeout) as client:
            while not stop.is_set():
                now = time.time_ns()
                if self.cursor.position is None:
                    self.cursor.position = (now if self.loki.start_at == "end"
                                            else now - LOOKBACK_NS)
                delay = self.loki.poll_interval
                try:
                    full = await self._poll(client, now, emit)
                    attempt = 0
                    if full:
                        continue             # more waiting: ask again at once
                except _Backoff as exc:
                    attempt += 1
                    delay = exc.wait if exc.wait is not None else self.backoff(attempt)
                except (httpx.HTTPError, ValueError) as exc:
                    self.failed("request", exc)
                    attempt += 1
                    delay = self.backoff(attempt)
                if await self.sleep(stop, delay):
                    return

    async def _poll(self, client: httpx.AsyncClient, now: int, emit: Emit) -> bool:
        params = {"query": self.loki.query, "start": str(self.cursor.position), "end": str(now),
                  "limit": str(self.loki.limit), "direction": "forward"}
        response = await client.get("/loki/api/v1/query_range", params=params)
        if response.status_code == 429 or response.status_code >= 500:
            self.failed("http", f"HTTP {response.status_code}")
            raise _Backoff(parse_retry_after(response.headers.get("Retry-After")))
        if response.status_code != 200:
            self.failed("http", f"HTTP {response.status_code}: {response.text[:200]}")
            raise _Backoff(None)
        try:
            body = orjson.loads(response.content)
            streams = body["data"]["result"]
            if body.get("status") != "success" or not isinstance(streams, list):
                raise ValueError(body.get("status"))
        except (ValueError, KeyError, TypeError) as exc:
            self.failed("decode", f"not a Loki answer: {exc!s:.100}")
            raise _Backoff(None) from None
        entries = []
        for stream in streams:
            labels = stream.get("stream") or {}
            key = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
            for stamp, line in stream.get("values") or []:
                entries.append((int(stamp), key, labels, line))
        entries.sort(key=lambda e: (e[0], e[1]))
        by_stream: dict[str, tuple[dict[str, str], list[bytes]]] = {}
        for stamp, key, labels, line in entries:
            if not self.cursor.admit(stamp, f"{key}\x1f{line}"):
                continue
            by_stream.setdefault(key, (labels, []))[1].append(record_lines(line, stamp / 1e9))
        self.recovered()
        full = len(entries) >= self.loki.limit
        position = self.cursor.position
        if full and not by_stream and entries and entries[-1][0] == position:
            # More than `limit` entries share this nanosecond: the page cannot move on.
            # Step past it (what lies beyond the page at that instant is skipped, counted).
            self.failed("crowded", f"more than {self.loki.limit} entries at {position} ns")
            self.cursor.step_past()
        token = self.cursor.token()
        for key, (labels, lines) in by_stream.items():
            data = b"".join(lines)
            self.counted(len(lines), len(data))
            await emit(Batch(source=self, stream=f"loki:{key}", origin=self._origin(labels),
                             data=data, arrival=time.time(), token=token))
        self.lag.set(max(0.0, (now - token[0]) / 1e9), source=self.name, unit="seconds")
        return full

    def _origin(self, labels: dict[str, str]) -> Origin:
        service = next((labels[k] for k in self.loki.service_labels if labels.get(k)), None)
        return Origin(source=f"loki:{self.name}", service=service or self.name,
                      override=self.config.service, allow_json=self.config.format != "plain")


class _Backoff(Exception):
    def __init__(self, wait: float | None) -> None:
        super().__init__()
        self.wait = wait

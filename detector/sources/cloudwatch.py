"""AWS CloudWatch Logs: ``FilterLogEvents`` polling of a log group.

Requests are signed with SigV4 using botocore's standard credential chain
(environment, shared files, container and instance roles) and sent with httpx;
``endpoint_url`` points elsewhere (moto in the tests). The checkpoint is the last
event timestamp handed over plus the ids of the events at exactly that
timestamp, so the next poll (which starts at that timestamp) hands nothing over
twice. Pages are followed through ``nextToken``; ``ThrottlingException`` and 5xx
answers back off. The service is the log group's last path component.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson
import structlog

from detector.config import CloudWatchSourceConfig
from detector.decode.events import Origin
from detector.notify.base import parse_retry_after
from detector.sources._records import record_lines
from detector.sources.base import Batch, Emit, SourceError
from detector.sources.cursor import Cursor, CursorSource
from detector.telemetry.metrics import Registry

__all__ = ["CloudWatchSource"]

log = structlog.get_logger("detector.sources.cloudwatch")
TARGET = "Logs_20140328.FilterLogEvents"


class CloudWatchSource(CursorSource):
    kind = "cloudwatch"

    def __init__(self, config: CloudWatchSourceConfig, registry: Registry) -> None:
        super().__init__(config, registry)
        self.cw = config
        self.cursor = Cursor("timestamp", "event_ids")     # in ms
        group = config.log_group.rstrip("/")
        self.origin = Origin(source=f"cloudwatch:{group}",
                             service=config.service or group.rsplit("/", 1)[-1] or group,
                             override=config.service, allow_json=config.format != "plain")

    # -- signing --------------------------------------------------------------------------
    def _session(self) -> tuple[Any, str, str]:
        """(credentials, region, endpoint), from botocore's standard chain."""
        import botocore.session

        session = botocore.session.get_session()
        region = self.cw.region or session.get_config_variable("region") or ""
        if not region:
            raise SourceError("no AWS region: set region in the source or AWS_REGION")
        credentials = session.get_credentials()
        if credentials is None:
            raise SourceError("no AWS credentials found (environment, shared files, roles)")
        endpoint = self.cw.endpoint_url or f"https://logs.{region}.amazonaws.com"
        return credentials, region, endpoint.rstrip("/") + "/"

    def _signed(self, credentials: Any, region: str, endpoint: str,
                body: bytes) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method="POST", url=endpoint, data=body, headers={
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET})
        SigV4Auth(credentials.get_frozen_credentials(), "logs", region).add_auth(request)
        return dict(request.headers.items())

    # -- the loop -------------------------------------------------------------------------
    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        attempt = 0
        credentials = None
        async with httpx.AsyncClient(timeout=self.cw.timeout) as client:
            while not stop.is_set():
                try:
                    if credentials is None:
                        credentials, region, endpoint = await asyncio.to_thread(self._session)
                    if self.cursor.position is None:
                        self.cursor.position = (int(time.time() * 1000)
                                                if self.cw.start_at == "end" else 0)
                    delay = await self._poll(client, credentials, region, endpoint, emit, stop)
                    attempt = 0
                except SourceError as exc:
                    self.failed("api", exc)
                    attempt += 1
                    delay = self.backoff(attempt, base=1.0, cap=300.0)
                except (httpx.HTTPError, ValueError) as exc:
                    self.failed("request", exc)
                    attempt += 1
                    delay = self.backoff(attempt, base=1.0, cap=300.0)
                if await self.sleep(stop, delay):
                    return

    async def _poll(self, client: httpx.AsyncClient, credentials: Any, region: str,
                    endpoint: str, emit: Emit, stop: asyncio.Event) -> float:
        """One pass over everything new; returns how long to wait before the next."""
        token: str | None = None
        while not stop.is_set():
            request: dict[str, Any] = {"logGroupName": self.cw.log_group,
                                       "startTime": self.cursor.position, "limit": 10000}
            if self.cw.filter_pattern:
                request["filterPattern"] = self.cw.filter_pattern
            if self.cw.stream_prefix:
                request["logStreamNamePrefix"] = self.cw.stream_prefix
            if token:
                request["nextToken"] = token
            body = orjson.dumps(request)
            headers = self._signed(credentials, region, endpoint, body)
            response = await client.post(endpoint, content=body, headers=headers)
            if response.status_code != 200:
                return self._failure(response)
            page = response.json()
            await self._hand_over(page.get("events", []), emit)
            self.recovered()
            token = page.get("nextToken")
            if not token:
                return self.cw.poll_interval
        return 0.0

    def _failure(self, response: httpx.Response) -> float:
        try:
            kind = str(response.json().get("__type", "")).rsplit("#", 1)[-1]
        except ValueError:
            kind = ""
        if kind == "ThrottlingException" or response.status_code in (429, 503):
            self.failed("throttled", f"HTTP {response.status_code} {kind}".strip())
            wait = parse_retry_after(response.headers.get("Retry-After"))
            return wait if wait is not None else self.backoff(3, base=1.0, cap=60.0)
        if response.status_code >= 500:
            self.failed("server", f"HTTP {response.status_code}")
            return self.backoff(2, base=1.0, cap=60.0)
        raise SourceError(f"HTTP {response.status_code} {kind}: {response.text[:200]}")

    async def _hand_over(self, events: list[dict[str, Any]], emit: Emit) -> None:
        lines: list[bytes] = []
        for event in sorted(events, key=lambda e: (e["timestamp"], e.get("eventId", ""))):
            stamp = int(event["timestamp"])
            if not self.cursor.admit(stamp, str(event.get("eventId", ""))):
                continue
            lines.append(record_lines(event.get("message", ""), stamp / 1000.0))
        if not lines:
            return
        data = b"".join(lines)
        self.counted(len(lines), len(data))
        position, _ = token = self.cursor.token()
        self.lag.set(max(0.0, time.time() - position / 1000.0), source=self.name,
                     unit="seconds")
        await emit(Batch(source=self, stream=self.origin.source, origin=self.origin,
                         data=data, arrival=time.time(), token=token))

"""What every notifier shares: routing, requests, and what an answer means.

A notifier turns an incident event into one HTTP request for its destination and
says whether the answer means *delivered*, *try again* (408, 429, 5xx, timeouts,
connection errors, honouring ``Retry-After``) or *never* (other 4xx: a dead
letter, with the answer kept). Routing (``min_severity``, ``kinds``, ``events``,
``classes``/``exclude_classes``, ``services``/``exclude_services``, globs allowed
for services) decides which events it gets at all.
"""

from __future__ import annotations

import email.utils
import fnmatch
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
import orjson

from detector import __version__
from detector.config import NotifyConfig
from detector.errors import NotifyError
from detector.model import IncidentEvent, Severity
from detector.redact import redact_value

__all__ = ["Notifier", "Request", "event_key", "parse_retry_after"]

USER_AGENT = f"detector/{__version__}"


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def event_key(event: IncidentEvent) -> str:
    """The idempotency key of an incident event: the same event, the same key."""
    return f"{event['id']}-{event['event']}-{event['count']}"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


class Notifier:
    """Base class: subclasses say how to build the request and may refine `check`."""

    type: ClassVar[str] = ""
    default_rate: ClassVar[float] = 0.0      # requests per second; 0 = no limit

    def __init__(self, config: NotifyConfig) -> None:
        self.config = config
        self.name = config.name
        self.min_rank = Severity(config.min_severity).rank
        self.rate = config.rate_limit or self.default_rate

    # -- routing --------------------------------------------------------------------
    def accepts(self, event: IncidentEvent) -> bool:
        config = self.config
        if event["event"] not in config.events:
            return False
        if Severity(event["severity"]).rank < self.min_rank:
            return False
        if config.kinds and event["kind"] not in config.kinds:
            return False
        cls = event["class"]
        if config.classes and cls not in config.classes:
            return False
        if cls in config.exclude_classes:
            return False
        service = event["service"]
        if config.services and not any(fnmatch.fnmatchcase(service, g) for g in config.services):
            return False
        return not any(fnmatch.fnmatchcase(service, g) for g in config.exclude_services)

    # -- the request ------------------------------------------------------------------
    def request(self, event: IncidentEvent, *, key: str, now: float) -> Request:
        raise NotImplementedError

    def json_request(self, payload: Any, headers: dict[str, str] | None = None, *,
                     envelope: dict[str, Any] | None = None) -> Request:
        """POST ``payload`` as JSON, redacted once more; ``envelope`` fields (credentials the
        destination's protocol needs in the body, such as a routing key) are added after."""
        content = redact_value(payload)
        if envelope:
            content = {**envelope, **content}
        body = orjson.dumps(content)
        return Request("POST", self.config.url, body, {
            "Content-Type": "application/json", "User-Agent": USER_AGENT, **(headers or {})})

    # -- the answer -------------------------------------------------------------------
    def check(self, response: httpx.Response) -> None:
        """Return if delivered; raise :class:`NotifyError` saying whether to retry."""
        status = response.status_code
        if 200 <= status < 300:
            return
        raise self.failure(response)

    def failure(self, response: httpx.Response) -> NotifyError:
        status = response.status_code
        body = response.text[:2000]
        retryable = status in (408, 429) or status >= 500
        return NotifyError(f"{self.type} answered HTTP {status}: {body[:200]}",
                           retryable=retryable,
                           retry_after=parse_retry_after(response.headers.get("Retry-After")),
                           status=status, response=body)

    # -- hooks for notifiers that keep state (alertmanager) ---------------------------
    def delivered(self, event: IncidentEvent) -> None:
        """Called after ``event`` was accepted by the destination."""

    def refresh(self, now: float) -> Request | None:
        """A periodic request that keeps state fresh at the destination, if any."""
        return None

    refresh_interval: float = 0.0

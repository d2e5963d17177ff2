"""Generic webhooks: the incident event JSON, signed.

Headers: ``X-Detector-Timestamp`` (unix seconds), ``X-Detector-Signature:
sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`` when a secret is set,
and ``X-Detector-Event-Id`` (the same for every retry of one event) so receivers
can drop duplicates. Any 2xx is success.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import ClassVar

from detector.model import IncidentEvent
from detector.notify.base import Notifier, Request

__all__ = ["WebhookNotifier", "sign"]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


class WebhookNotifier(Notifier):
    type: ClassVar[str] = "webhook"

    def request(self, event: IncidentEvent, *, key: str, now: float) -> Request:
        request = self.json_request(event, self.config.headers)
        timestamp = str(int(now))
        headers = {**request.headers, "X-Detector-Timestamp": timestamp,
                   "X-Detector-Event-Id": key}
        if self.config.secret:
            headers["X-Detector-Signature"] = sign(self.config.secret, timestamp, request.body)
        return Request(request.method, request.url, request.body, headers)

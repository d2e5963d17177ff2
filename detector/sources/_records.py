"""Turning per-record sources' records (CloudWatch, Loki, Kafka) into lines."""

from __future__ import annotations

import time

from detector.decode.timestamps import leading_timestamp

__all__ = ["record_lines", "stamp"]


def stamp(seconds: float) -> str:
    """Epoch seconds as the ISO-8601 UTC time (µs) put in front of an untimed record."""
    whole = int(seconds)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + \
        f".{int((seconds - whole) * 1e6):06d}Z"


def record_lines(message: str, when: float | None) -> bytes:
    """A record as whole lines. A plain-text record that carries no time of its own is
    given the source's timestamp up front (as Docker does), so its event time is the
    record's, not its arrival's."""
    text = message.rstrip("\r\n")
    if when is not None and text[:1] != "{" and leading_timestamp(text) is None:
        text = f"{stamp(when)} {text}"
    return text.encode("utf-8", "replace") + b"\n"

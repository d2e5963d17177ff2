"""Which incident events a replay shows (and sends): by time, severity, class, service.

Every line is still processed — rates and templates learn from what comes before
a window as they would have live — and only the incident events are filtered:
``--since``/``--until`` by the event's own time (an ``open`` at its first
occurrence, an ``update`` at its latest, a ``resolve`` when the incident went
quiet), ``--min-severity``, ``--class`` and ``--only-service`` (globs).
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from detector.decode.timestamps import parse_iso
from detector.errors import UserError
from detector.model import IncidentEvent, Severity

__all__ = ["EventFilter", "parse_when"]

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_when(text: str, *, now: float | None = None) -> float:
    """An ISO-8601 time or date (UTC unless it says otherwise), or a duration ago
    (``24h``, ``30m``, ``7d``)."""
    relative = _RELATIVE.match(text)
    if relative is not None:
        now = time.time() if now is None else now
        return now - float(relative.group(1)) * _UNITS[relative.group(2)]
    when = parse_iso(text.strip())
    if when is None:
        raise UserError(f"{text!r} is not a time: give an ISO-8601 time such as "
                        "2026-11-20T10:00:00Z or 2026-11-20, or a duration ago such as 24h")
    return when


@dataclass(frozen=True)
class EventFilter:
    since: float | None = None
    until: float | None = None
    min_severity: Severity = Severity.INFO
    classes: Sequence[str] = ()
    services: Sequence[str] = ()

    @property
    def active(self) -> bool:
        return bool(self.since is not None or self.until is not None or self.classes
                    or self.services or self.min_severity is not Severity.INFO)

    def wants(self, event: IncidentEvent, when: float) -> bool:
        """Does the event, which happened at event time ``when``, pass?"""
        if self.since is not None and when < self.since:
            return False
        if self.until is not None and when >= self.until:
            return False
        if Severity(event["severity"]).rank < self.min_severity.rank:
            return False
        if self.classes and event["class"] not in self.classes:
            return False
        return not self.services or any(fnmatch.fnmatchcase(event["service"], pattern)
                                        for pattern in self.services)

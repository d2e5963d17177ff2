"""The few value types every stage shares: log events, levels, and incident events."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, TypedDict

__all__ = [
    "CRITICAL",
    "DEBUG",
    "ERROR",
    "INFO",
    "LEVEL_NAMES",
    "NOLEVEL",
    "WARNING",
    "Event",
    "EventName",
    "IncidentEvent",
    "Kind",
    "RunbookJSON",
    "Severity",
]

# Log levels, as numbers so they compare (the stdlib logging scale).
NOLEVEL: Final = 0
DEBUG: Final = 10
INFO: Final = 20
WARNING: Final = 30
ERROR: Final = 40
CRITICAL: Final = 50
LEVEL_NAMES: Final = {NOLEVEL: "none", DEBUG: "debug", INFO: "info", WARNING: "warning",
                      ERROR: "error", CRITICAL: "critical"}


class Severity(StrEnum):
    """An incident's severity, lowest first (members compare by ``rank``)."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    @classmethod
    def for_level(cls, level: int) -> Severity:
        if level >= CRITICAL:
            return cls.CRITICAL
        if level >= ERROR:
            return cls.ERROR
        if level >= WARNING:
            return cls.WARNING
        return cls.INFO


_SEVERITY_RANK: Final = {severity: rank for rank, severity in enumerate(Severity)}


class Kind(StrEnum):
    """What opened an incident."""

    SIGNATURE = "signature"        # a pattern matched
    RATE_SPIKE = "rate_spike"      # a rate rose far above its learned baseline
    NEW_ERROR = "new_error"        # an error-level message of a shape never seen before


class EventName(StrEnum):
    """What an incident event says happened to its incident."""

    OPEN = "open"
    UPDATE = "update"              # the count grew (throttled)
    RESOLVE = "resolve"            # quiet for the resolve window, or the rate is back


class RunbookJSON(TypedDict, total=False):
    title: str
    steps: list[str]
    url: str


# The incident event of DESIGN.md §1: what `--output jsonl` prints and webhooks receive.
IncidentEvent = TypedDict("IncidentEvent", {
    "event": EventName, "id": str, "kind": Kind, "class": str, "pattern": str | None,
    "severity": Severity, "service": str, "fingerprint": str, "first_seen": str,
    "last_seen": str, "count": int, "summary": str, "fields": dict[str, str],
    "samples": list[str], "runbook": RunbookJSON | None,
})


@dataclass(slots=True)
class Event:
    """One decoded log event: a line, or a multi-line record such as a traceback.

    ``text`` is what patterns are matched against: the whole line for plain text,
    the message (plus any exception field) for JSON. ``time`` is event time in
    epoch seconds; ``timed`` says whether it came from the event itself.
    """

    time: float
    service: str
    level: int
    text: str
    source: str
    timed: bool = True
    lines: int = 1
    candidates: frozenset[int] = field(default_factory=frozenset)

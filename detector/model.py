"""The few value types every stage shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "CRITICAL",
    "DEBUG",
    "ERROR",
    "INFO",
    "LEVEL_NAMES",
    "NOLEVEL",
    "SEVERITIES",
    "SEVERITY_RANK",
    "WARNING",
    "Event",
    "severity_for_level",
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

# Incident severities, lowest first.
SEVERITIES: Final = ("info", "warning", "error", "critical")
SEVERITY_RANK: Final = {name: rank for rank, name in enumerate(SEVERITIES)}


def severity_for_level(level: int) -> str:
    if level >= CRITICAL:
        return "critical"
    if level >= ERROR:
        return "error"
    if level >= WARNING:
        return "warning"
    return "info"


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

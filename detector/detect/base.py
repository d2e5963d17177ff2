"""What every detector is: it learns from events and says what it found.

A detector sees every event after the signatures are confirmed (``observe``) and
the watermark as it moves (``advance``); both return its findings — occurrences
of a problem, or the end of one — which the pipeline hands to the incident
tracker. Detectors never call back into the pipeline. Their learned state is
versioned JSON (``snapshot``/``restore``): the daemon keeps it in the state
directory, and an upgrade keeps what was learned.

A detector whose state is kept per service also implements ``ServiceState``: the part
of its snapshot that belongs to some services, taken back into the running state
(replacing what it held for them), or forgotten. That is how what was learned follows a
service from one process to another when Kafka moves its partition
(:mod:`detector.daemon.handover`). The incident tracker implements it too.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Protocol, runtime_checkable

from detector.incidents import Finding
from detector.match.engine import Match
from detector.model import Event

__all__ = ["Detector", "ServiceState"]


class Detector(Protocol):
    name: str                      # the key of its saved state ("rates", "novelty")

    def seen(self, service: str, when: float) -> None:
        """A service exists since ``when`` (its stream's first line), before any event."""

    def observe(self, event: Event, match: Match | None, when: float) -> Sequence[Finding]:
        """Learn from one event (``match``: the signature it carried, if any)."""

    def advance(self, watermark: float) -> Sequence[Finding]:
        """Event time has reached ``watermark``: close windows, give verdicts."""

    def snapshot(self) -> dict[str, Any]:
        """The learned state as versioned JSON."""

    def restore(self, data: dict[str, Any]) -> None:
        """Take back a snapshot; raises ``StateError`` if it cannot be read."""


@runtime_checkable
class ServiceState(Protocol):
    def snapshot_services(self, services: Collection[str]) -> dict[str, Any]:
        """What was learned about ``services`` only, as versioned JSON (the ``snapshot``
        format, so the same versions are read back)."""

    def restore_services(self, data: dict[str, Any]) -> None:
        """Take back a partial snapshot into the running state: the services it holds
        replace what was kept for them, the others are untouched; bounds still hold.
        Raises ``StateError`` if it cannot be read."""

    def forget_services(self, services: Collection[str]) -> None:
        """Drop what is kept for ``services`` (another process owns them now), silently:
        no event is produced for what is dropped."""

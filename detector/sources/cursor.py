"""A resumable position in a time-ordered record stream (CloudWatch, Loki).

Polling APIs answer "everything from time T on", and several records can share
one instant. The cursor is the time of the last record handed over plus the ids
of the records handed over at exactly that time, so the next poll, which starts
at that time, hands nothing over twice. The *committed* cursor (what the
checkpoint saves) moves only when the daemon says a batch was processed.
"""

from __future__ import annotations

from typing import Any

from detector.sources.base import Source

__all__ = ["Cursor", "CursorSource"]


class Cursor:
    def __init__(self, time_key: str, ids_key: str) -> None:
        self.time_key = time_key            # the checkpoint's field names, as 0.1.0 wrote them
        self.ids_key = ids_key
        self.position: int | None = None    # the time of the last record handed over
        self.at_position: set[str] = set()  # ids handed over at exactly that time
        self.committed: tuple[int, list[str]] | None = None

    def admit(self, stamp: int, ident: str) -> bool:
        """Is this record new? If so, it is handed over: the cursor moves to it."""
        assert self.position is not None
        if stamp < self.position or (stamp == self.position and ident in self.at_position):
            return False
        if stamp > self.position:
            self.position, self.at_position = stamp, set()
        self.at_position.add(ident)
        return True

    def step_past(self) -> None:
        """Move one unit beyond the current instant (a page that cannot move on)."""
        assert self.position is not None
        self.position, self.at_position = self.position + 1, set()

    def token(self) -> tuple[int, list[str]]:
        assert self.position is not None
        return self.position, sorted(self.at_position)

    # -- the source's side of checkpoints --------------------------------------------
    def commit(self, token: Any) -> None:
        self.committed = token

    def checkpoint(self) -> dict[str, Any]:
        if self.committed is None:
            return {}
        return {self.time_key: self.committed[0], self.ids_key: self.committed[1]}

    def restore(self, saved: dict[str, Any]) -> None:
        if self.time_key in saved:
            self.position = int(saved[self.time_key])
            self.at_position = set(saved.get(self.ids_key, []))
            self.committed = (self.position, sorted(self.at_position))


class CursorSource(Source):
    """A source whose checkpoint is its :class:`Cursor` (``self.cursor``)."""

    cursor: Cursor

    def restore(self, saved: dict[str, Any]) -> None:
        self.cursor.restore(saved)

    def checkpoint(self) -> dict[str, Any]:
        return self.cursor.checkpoint()

    def commit(self, token: Any) -> None:
        self.cursor.commit(token)

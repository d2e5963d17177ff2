"""Which runbook an incident carries.

The pattern that matched brings its own; a rate spike takes the runbook of the
pattern behind most of its events, or of its class; a detector may bring a
default of its own (new error shapes, the error rate). Built once from the
loaded packs, replaced whole on reload.
"""

from __future__ import annotations

from collections.abc import Sequence

from detector.incidents import Occurrence
from detector.match.packs import Pattern
from detector.model import RunbookJSON

__all__ = ["Runbooks"]


class Runbooks:
    def __init__(self, patterns: Sequence[Pattern]) -> None:
        self.by_pattern: dict[str, RunbookJSON] = {}
        self.by_class: dict[str, RunbookJSON] = {}
        for pattern in patterns:             # in priority order: a class gets its first
            self.by_pattern[pattern.id] = pattern.runbook.as_json()
            self.by_class.setdefault(pattern.cls, self.by_pattern[pattern.id])

    def choose(self, occurrence: Occurrence) -> RunbookJSON | None:
        if occurrence.runbook is not None:
            return occurrence.runbook
        if occurrence.pattern is not None and occurrence.pattern in self.by_pattern:
            return self.by_pattern[occurrence.pattern]
        return self.by_class.get(occurrence.cls)

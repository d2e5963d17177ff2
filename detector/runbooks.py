"""Which runbook an incident carries.

The pattern that matched brings its own, if it has one; a rate spike takes the
runbook of the pattern behind most of its events; a detector may bring a default of
its own (new error shapes, the error rate); otherwise the class's generic runbook
(``patterns/knowledge/classes.toml``) applies. Built once from the loaded packs,
replaced whole on reload.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from detector.incidents import Occurrence
from detector.match.packs import Pattern
from detector.model import RunbookJSON

__all__ = ["Runbooks"]


class Runbooks:
    def __init__(self, patterns: Sequence[Pattern],
                 classes: Mapping[str, Pattern] | None = None) -> None:
        self.by_pattern = {p.id: p.runbook.as_json() for p in patterns if p.runbook is not None}
        self.by_class: dict[str, RunbookJSON] = {
            cls: p.runbook.as_json() for cls, p in (classes or {}).items()
            if p.runbook is not None}
        for pattern in patterns:             # a class without defaults: its first pattern's
            if pattern.runbook is not None:
                self.by_class.setdefault(pattern.cls, self.by_pattern[pattern.id])

    def choose(self, occurrence: Occurrence) -> RunbookJSON | None:
        if occurrence.runbook is not None:
            return occurrence.runbook
        if occurrence.pattern is not None and occurrence.pattern in self.by_pattern:
            return self.by_pattern[occurrence.pattern]
        return self.by_class.get(occurrence.cls)

"""Which runbook an incident carries.

The pattern that matched brings its own, if it has one; a rate spike takes the
runbook of the pattern behind most of its events; a detector may bring a default of
its own (new error shapes, the error rate); otherwise the class's generic runbook
(``patterns/knowledge/classes.toml``) applies. A user's own ``[[runbook]]`` tables
come before all of that: the first that matches the incident's class, service and
pattern wins; one with steps replaces the runbook, one with only a ``url`` adds its link
to the runbook the incident would have had. Built once from the loaded packs and the
config, replaced whole on reload.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from detector.config.operating import RunbookConfig
from detector.incidents import Occurrence
from detector.match.packs import Pattern
from detector.model import RunbookJSON

__all__ = ["Runbooks"]


class Runbooks:
    def __init__(self, patterns: Sequence[Pattern],
                 classes: Mapping[str, Pattern] | None = None,
                 user: Sequence[RunbookConfig] = ()) -> None:
        self.user = tuple(user)
        self.by_pattern = {p.id: p.runbook.as_json() for p in patterns if p.runbook is not None}
        self.by_class: dict[str, RunbookJSON] = {
            cls: p.runbook.as_json() for cls, p in (classes or {}).items()
            if p.runbook is not None}
        for pattern in patterns:             # a class without defaults: its first pattern's
            if pattern.runbook is not None:
                self.by_class.setdefault(pattern.cls, self.by_pattern[pattern.id])

    def choose(self, occurrence: Occurrence) -> RunbookJSON | None:
        shipped = self._shipped(occurrence)
        for own in self.user:
            if own.match.matches(occurrence.cls, occurrence.service, occurrence.pattern):
                return _merge(own, shipped)
        return shipped

    def _shipped(self, occurrence: Occurrence) -> RunbookJSON | None:
        if occurrence.runbook is not None:
            return occurrence.runbook
        if occurrence.pattern is not None and occurrence.pattern in self.by_pattern:
            return self.by_pattern[occurrence.pattern]
        return self.by_class.get(occurrence.cls)


def _merge(own: RunbookConfig, shipped: RunbookJSON | None) -> RunbookJSON:
    """The user's runbook: its steps if it has any, else the shipped ones, with its link."""
    if own.steps or shipped is None:
        book: RunbookJSON = {"title": own.title or "Runbook", "steps": list(own.steps)}
    else:
        book = {"title": own.title or shipped.get("title", "Runbook"),
                "steps": list(shipped.get("steps", []))}
    if own.url:
        book["url"] = own.url
    return book

"""New error shapes: an error-level message of a kind this service never logged.

Error-level events that no signature explains are stripped of their leading time,
level and logger (:func:`detector.decode.prefix.strip_prefix`) and masked into templates
(:mod:`detector.detect.templates`), per service. After a service's warm-up
(``novelty_warmup`` from the first event the detector saw from it, during which
templates are learned silently), a template never seen before opens a ``new_error`` incident. Its
recurrences count into that incident only during its first ``resolve_after``:
a template that keeps recurring stops being new, so the incident resolves.
Templates persist in the state directory, at most ``novelty_max_templates`` per
service, forgotten when unseen for ``novelty_expiry``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from detector.config import DetectConfig
from detector.decode.prefix import strip_prefix
from detector.detect.templates import Template, TemplateTree, mask
from detector.errors import StateError
from detector.incidents import Finding, Occurrence
from detector.match.engine import Match
from detector.model import ERROR, Event, Kind, RunbookJSON, Severity
from detector.redact import redact

__all__ = ["NoveltyDetector"]

CLASS = "unhandled_exception"
SNAPSHOT_VERSION = 1
RUNBOOK: RunbookJSON = {
    "title": "An error this service never logged before",
    "steps": ["Read the sample: a new message often means new code (a deploy) or a new "
              "failure mode of a dependency.",
              "Find where it is logged: search the code for the constant part of the template.",
              "If it matters, add a pattern for it to a pack (with its runbook) so it is "
              "classified next time; `detector patterns test` checks it."]}
EXPIRY_CHECK = 3600.0


@dataclass
class ServiceTemplates:
    first_seen: float                  # the service's first event: its warm-up starts here
    tree: TemplateTree
    open: dict[str, float] = field(default_factory=dict)   # template id → when it was new


class NoveltyDetector:
    name = "novelty"

    def __init__(self, config: DetectConfig) -> None:
        self.config = config
        self.services: dict[str, ServiceTemplates] = {}
        self.new = 0
        self._next_expiry_check: float | None = None

    def seen(self, service: str, when: float) -> None:
        state = self.services.get(service)
        if state is None:
            self.services[service] = ServiceTemplates(
                first_seen=when, tree=TemplateTree(self.config.novelty_max_templates))
        elif when < state.first_seen:
            state.first_seen = when

    def observe(self, event: Event, match: Match | None, when: float) -> Sequence[Finding]:
        self.seen(event.service, when)
        state = self.services[event.service]
        if match is not None or event.level < ERROR:
            return ()
        tokens = mask(strip_prefix(event.text))
        if not tokens:
            return ()
        template, is_new = state.tree.match(tokens, when)
        if is_new:
            if when - state.first_seen < self.config.novelty_warmup:
                return ()                  # still learning what this service's errors look like
            self.new += 1
            state.open[template.id] = when
            return (self._report(event, template, when),)
        opened = state.open.get(template.id)
        if opened is None:
            return ()
        if when - opened >= self.config.resolve_after:
            del state.open[template.id]    # recurring: no longer new
            return ()
        return (self._report(event, template, when),)

    def _report(self, event: Event, template: Template, when: float) -> Occurrence:
        text = template.text
        return Occurrence(
            kind=Kind.NEW_ERROR, cls=CLASS, service=event.service, key={"template": template.id},
            severity=Severity.WARNING, summary=f"New error in {event.service}: {text[:240]}",
            sample=event.text, when=when, fields={"template": text[:500]}, runbook=RUNBOOK)

    def advance(self, watermark: float) -> Sequence[Finding]:
        if self._next_expiry_check is None:
            self._next_expiry_check = watermark + EXPIRY_CHECK
        if watermark < self._next_expiry_check:
            return ()
        self._next_expiry_check = watermark + EXPIRY_CHECK
        for state in self.services.values():
            state.tree.forget_older_than(watermark - self.config.novelty_expiry)
            for template_id, opened in list(state.open.items()):
                if watermark - opened >= self.config.resolve_after * 2:
                    del state.open[template_id]
        return ()

    # -- persistence -------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {"version": SNAPSHOT_VERSION, "services": {
            service: {"first_seen": state.first_seen, "templates": state.tree.snapshot()}
            for service, state in self.services.items()}}

    def snapshot_services(self, services: Collection[str]) -> dict[str, Any]:
        """:meth:`snapshot` of ``services`` only."""
        wanted = set(services)
        return {"version": SNAPSHOT_VERSION, "services": {
            service: {"first_seen": state.first_seen, "templates": state.tree.snapshot()}
            for service, state in self.services.items() if service in wanted}}

    def restore_services(self, data: dict[str, Any]) -> None:
        """The services in ``data`` replace what was kept for them (``restore`` does)."""
        if "version" not in data:
            raise StateError("novelty: a partial snapshot has a version")
        self.restore(data)

    def forget_services(self, services: Collection[str]) -> None:
        for service in services:
            self.services.pop(service, None)

    def restore(self, data: dict[str, Any]) -> None:
        """Templates from :meth:`snapshot`. 0.1.0 wrote the per-service map without the
        envelope and each service's templates as a list (``TemplateTree.restore`` migrates
        those; their tokens are redacted, since 0.1.0 kept them raw)."""
        if "version" in data and data["version"] != SNAPSHOT_VERSION:
            raise StateError(f"novelty: unknown snapshot version {data['version']!r}")
        services = data["services"] if "version" in data else data
        try:
            for service, saved in services.items():
                templates = saved["templates"]
                if isinstance(templates, list):
                    templates = [{**t, "tokens": redact(" ".join(t["tokens"])).split()}
                                 for t in templates]
                tree = TemplateTree.restore(templates, self.config.novelty_max_templates)
                self.services[service] = ServiceTemplates(first_seen=saved["first_seen"],
                                                          tree=tree)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise StateError(f"novelty: {exc!r}") from None

"""``detector patterns list|test``: what is loaded, and what a line matches."""

from __future__ import annotations

import sys
from typing import TextIO

from detector.build import load_patterns, make_engine
from detector.config import Config
from detector.errors import UserError
from detector.humanize import plural
from detector.model import LEVEL_NAMES
from detector.runbooks import Runbooks

__all__ = ["patterns_list", "patterns_test"]


def patterns_list(config: Config, *, cls: str | None = None,
                  out: TextIO | None = None) -> int:
    out = out or sys.stdout
    loaded = load_patterns(config)
    patterns = [p for p in loaded if cls is None or p.cls == cls]
    if not patterns:
        if cls is not None:
            known = ", ".join(sorted({p.cls for p in loaded}))
            raise UserError(f"patterns list: no pattern has class {cls!r}; the classes are: "
                            f"{known}")
        out.write("No patterns.\n")
        return 0
    width_id = max(len(p.id) for p in patterns)
    width_cls = max(len(p.cls) for p in patterns)
    out.write(f"{'ID'.ljust(width_id)}  {'CLASS'.ljust(width_cls)}  SEVERITY  TITLE\n")
    for pattern in sorted(patterns, key=lambda p: (p.cls, p.id)):
        out.write(f"{pattern.id.ljust(width_id)}  {pattern.cls.ljust(width_cls)}  "
                  f"{pattern.severity.ljust(8)}  {pattern.title}\n")
    out.write(f"\n{plural(len(patterns), 'pattern')}\n")
    return 0


def patterns_test(config: Config, line: str, *, out: TextIO | None = None) -> int:
    """Show what the pipeline makes of ``line``: per event, the class it gets and why, the
    fields and the runbook, and all the other evidence it holds."""
    out = out or sys.stdout
    engine = make_engine(config, load_patterns(config))
    runbooks = Runbooks(engine.patterns, engine.by_class, config.runbooks)
    decided = 0
    for event in engine.events_of(line):
        winner = engine.confirm(event)
        evidence = engine.evidence(event)
        if winner is None and not evidence:
            continue
        if winner is not None:
            decided += 1
            pattern = winner.pattern
            same = list(dict.fromkeys(reason for _, cls, reason in evidence
                                      if cls == pattern.cls and reason != winner.reason))
            because = ", ".join([winner.reason, *same])
            out.write(f"class {pattern.cls} from {because}\n"
                      f"  {pattern.id}  severity={pattern.severity}  {pattern.title}\n")
            for key, value in winner.fields.items():
                out.write(f"  {key} = {value!r}\n")
            book = runbooks.by_pattern.get(pattern.id) or runbooks.by_class.get(pattern.cls)
            if book is not None:
                out.write(f"  runbook: {book['title']}\n")
        decided_class = winner.pattern.cls if winner is not None else None
        shown: set[str] = set()
        for priority, cls, reason in evidence:
            if cls != decided_class and reason not in shown:
                shown.add(reason)
                out.write(f"  also: {cls} from {reason} (priority {priority})\n")
        if winner is None:
            out.write(f"  no class: the event's level ({LEVEL_NAMES.get(event.level, '?')}) "
                      "is below what the evidence needs\n")
    if not decided:
        out.write("no pattern matches\n")
        return 1
    return 0

"""``detector patterns list|test``: what is loaded, and what a line matches."""

from __future__ import annotations

import sys
from typing import TextIO

from detector.build import load_patterns, make_engine
from detector.config import Config
from detector.model import LEVEL_NAMES

__all__ = ["patterns_list", "patterns_test"]


def patterns_list(config: Config, *, cls: str | None = None,
                  out: TextIO | None = None) -> int:
    out = out or sys.stdout
    patterns = [p for p in load_patterns(config) if cls is None or p.cls == cls]
    if not patterns:
        out.write("No patterns.\n")
        return 0
    width_id = max(len(p.id) for p in patterns)
    width_cls = max(len(p.cls) for p in patterns)
    out.write(f"{'ID'.ljust(width_id)}  {'CLASS'.ljust(width_cls)}  SEVERITY  TITLE\n")
    for pattern in sorted(patterns, key=lambda p: (p.cls, p.id)):
        out.write(f"{pattern.id.ljust(width_id)}  {pattern.cls.ljust(width_cls)}  "
                  f"{pattern.severity.ljust(8)}  {pattern.title}\n")
    out.write(f"\n{len(patterns)} patterns\n")
    return 0


def patterns_test(config: Config, line: str, *, out: TextIO | None = None) -> int:
    """Show what the pipeline makes of ``line``: the winning pattern and every other hit."""
    out = out or sys.stdout
    engine = make_engine(config, load_patterns(config))
    winner = engine.classify_text(line)
    others = [p for p in engine.patterns
              if p is not (winner.pattern if winner else None) and p.regex.search(line)]
    if winner is None and not others:
        out.write("no pattern matches\n")
        return 1
    if winner is not None:
        pattern = winner.pattern
        out.write(f"{pattern.id}  class={pattern.cls}  severity={pattern.severity}  "
                  f"priority={pattern.priority}\n  {pattern.title}\n")
        for key, value in winner.fields.items():
            out.write(f"  {key} = {value!r}\n")
        if pattern.min_level:
            out.write(f"  (needs level {LEVEL_NAMES[pattern.min_level]} or above)\n")
        out.write(f"  runbook: {pattern.runbook.title}\n")
    for pattern in others:
        reason = ("lower priority" if winner is not None and pattern.priority
                  <= winner.pattern.priority else "level too low or outranked")
        out.write(f"also matches {pattern.id} (class={pattern.cls}; {reason})\n")
    return 0 if winner is not None else 1

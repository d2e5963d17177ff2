"""``detector validate``: load the config and every pack, compile, run every example."""

from __future__ import annotations

import sys
from typing import TextIO

from detector.build import load_patterns, make_engine
from detector.config import Config
from detector.match.adversarial import slow_patterns
from detector.match.examples import check_examples
from detector.sources.file import no_match_warnings

__all__ = ["validate"]


def validate(config: Config, *, engine: str = "auto", out: TextIO | None = None,
             err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    patterns = load_patterns(config)
    built = make_engine(config, patterns, engine)
    problems = check_examples(built)
    for problem in problems:
        err.write(problem.located() + "\n")
    if problems:
        return 2
    for pattern in slow_patterns(patterns, config.patterns.regex_timeout):
        err.write(f"warning: {pattern.where()}: pattern {pattern.id}: its regex ran past "
                  f"{config.patterns.regex_timeout:g}s on a hostile line (catastrophic "
                  "backtracking?); at run time the timeout stops it, but rewrite it\n")
    for warning in no_match_warnings(config):
        err.write(f"warning: {warning}\n")
    packs = {p.pack for p in patterns}
    examples = sum(len(p.examples_match) + len(p.examples_no_match) for p in patterns)
    where = str(config.path) if config.path else "built-in defaults"
    out.write(f"{where}: ok — {len(patterns)} patterns in {len(packs)} packs, "
              f"{len(config.sources)} sources, {len(config.notify)} notifiers; "
              f"{examples} examples hold (engine {built.name})\n")
    return 0

"""Checking every pattern's examples against the engine that will run them.

A ``match`` example must be classified as its own pattern by the whole engine
(prefilter, event assembly, priorities and all), not merely match its regex; a
``no_match`` example (a near miss) must not be classified into the pattern's
class by any pattern.
"""

from __future__ import annotations

from detector.errors import ConfigError
from detector.match.engine import Engine

__all__ = ["check_examples"]


def check_examples(engine: Engine) -> list[ConfigError]:
    problems: list[ConfigError] = []
    for pattern in engine.patterns:
        for number, example in enumerate(pattern.examples_match, start=1):
            found = engine.classify_text(example)
            if found is None or found.pattern is not pattern:
                what = ("matches nothing" if found is None
                        else f"is classified as {found.pattern.id}")
                problems.append(ConfigError(pattern.pack, pattern.examples_lines[0],
                                            f"pattern {pattern.id}: match example {number} "
                                            f"{_quote(example)} {what}"))
        if pattern.examples_fields and pattern.examples_match:
            found = engine.classify_text(pattern.examples_match[0])
            got = found.fields if found is not None else {}
            for name, expected in pattern.examples_fields.items():
                if got.get(name) != expected:
                    problems.append(ConfigError(
                        pattern.pack, pattern.examples_lines[0],
                        f"pattern {pattern.id}: match example 1 captures {name}="
                        f"{got.get(name)!r}, expected {expected!r}"))
        for number, example in enumerate(pattern.examples_no_match, start=1):
            found = engine.classify_text(example)
            if found is not None and found.pattern.cls == pattern.cls:
                problems.append(ConfigError(pattern.pack, pattern.examples_lines[1],
                                            f"pattern {pattern.id}: no_match example {number} "
                                            f"{_quote(example)} is classified as "
                                            f"{found.pattern.id} ({found.pattern.cls})"))
    return problems


def _quote(text: str) -> str:
    first = text.split("\n", 1)[0]
    return repr(first if len(first) <= 80 else first[:77] + "...")

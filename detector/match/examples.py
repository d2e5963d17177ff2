"""Checking every pattern's examples against the engine that will run them.

A ``match`` example must be classified into its pattern's class by the whole
engine (prefilter, event assembly, priorities and all), not merely match its
regex — by the pattern itself or by a stronger one of the same class (a library's
wording and a generic phrase may both know a line); a ``no_match`` example (a near
miss) must not be classified into the pattern's class by any pattern. The fields an
example must capture are checked against the pattern's own regex.
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
            if found is None or found.pattern.cls != pattern.cls:
                what = ("matches nothing" if found is None
                        else f"is classified as {found.pattern.id} ({found.pattern.cls})")
                problems.append(ConfigError(pattern.pack, pattern.examples_lines[0],
                                            f"pattern {pattern.id}: match example {number} "
                                            f"{_quote(example)} {what}"))
        if pattern.examples_fields and pattern.examples_match:
            found = engine.classify_text(pattern.examples_match[0])
            if found is not None and found.pattern is pattern:
                got = found.fields
            else:
                own = pattern.regex.search(pattern.examples_match[0])
                got = {k: v for k, v in own.groupdict().items() if v is not None} if own else {}
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

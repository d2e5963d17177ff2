"""Does a pattern's regex run away on hostile input? (``detector validate`` asks.)

A pattern such as ``(a+)+$`` backtracks exponentially on a long run of ``a``
followed by anything else. At run time the ``regex`` timeout stops it (and counts
it), but a slow pattern still costs a tenth of a second per candidate line, so
``validate`` tries each pattern on inputs built to provoke backtracking — long
runs of each character its examples use, its example repeated, the classic
``aaa…!`` — and warns about those that hit the budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from detector.match.packs import Pattern

__all__ = ["slow_patterns"]

RUN = 5000              # characters in a run: long enough to show super-linear time
REPEATS = 60


def _probes(pattern: Pattern) -> Iterator[str]:
    example = pattern.examples_match[0].split("\n", 1)[0] if pattern.examples_match else ""
    seen: set[str] = set()
    for char in example[:40]:
        if char not in seen:
            seen.add(char)
            yield char * RUN + "\x00"
    if example:
        yield " ".join([example] * REPEATS)
        yield example[: len(example) // 2] * REPEATS
    yield "a" * 30 + "!"
    yield " " * RUN + "x"


def slow_patterns(patterns: Iterable[Pattern], budget: float = 0.1) -> list[Pattern]:
    """The patterns whose regex (or context regex) exceeded ``budget`` seconds on a probe."""
    slow = []
    for pattern in patterns:
        compiled = [pattern.regex] + ([pattern.context] if pattern.context is not None else [])
        try:
            for probe in _probes(pattern):
                for regex in compiled:
                    regex.search(probe, timeout=budget)
        except TimeoutError:
            slow.append(pattern)
    return slow

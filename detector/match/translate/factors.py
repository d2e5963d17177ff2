"""Required literal factors of a prefilter expression (the regex fallback's fast pre-check)."""

from __future__ import annotations

import re
from typing import Any

from detector.match.translate._tree import C, P

_MIN_FACTOR = 3


def required_factors(expression: str) -> list[bytes] | None:
    """Lower-case byte strings of which every match of ``expression`` contains one.

    ``expression`` is a prefilter (raw-level) expression. ``None`` when no factor of
    at least three bytes is required: the caller must then scan everything.
    """
    try:
        tree = P.parse(expression, 0)
    except (re.error, OverflowError, RecursionError):
        return None
    found = _seq_factors(list(tree.data))
    if not found or min(len(f) for f in found) < _MIN_FACTOR:
        return None
    return sorted({f.encode("latin-1") for f in found})


def _char_of(item: tuple[Any, Any]) -> str | None:
    """The one (lower-cased) character ``item`` stands for, if it is a single letter."""
    op, arg = item
    if op is C.LITERAL:
        return chr(arg).lower()
    if op is C.IN and len(arg) == 2 and all(m[0] is C.LITERAL for m in arg):
        a, b = chr(arg[0][1]), chr(arg[1][1])
        if a.lower() == b.lower():
            return a.lower()
    return None


def _better(a: set[str] | None, b: set[str] | None) -> set[str] | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if (min(map(len, a)), -len(a)) >= (min(map(len, b)), -len(b)) else b


def _seq_factors(items: list[tuple[Any, Any]]) -> set[str] | None:
    best: set[str] | None = None
    run = ""
    for item in items:
        char = _char_of(item)
        if char is not None:
            run += char
            continue
        if run:
            best = _better(best, {run})
            run = ""
        best = _better(best, _item_factors(item))
    if run:
        best = _better(best, {run})
    return best


def _item_factors(item: tuple[Any, Any]) -> set[str] | None:
    op, arg = item
    if op is C.SUBPATTERN:
        return _seq_factors(list(arg[3].data))
    if op is C.ATOMIC_GROUP:
        return _seq_factors(list(arg.data))
    if op is C.BRANCH:
        union: set[str] = set()
        for branch in arg[1]:
            found = _seq_factors(list(branch.data))
            if not found:
                return None
            union |= found
        return union
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT) and arg[0] >= 1:
        return _seq_factors(list(arg[2].data))
    return None

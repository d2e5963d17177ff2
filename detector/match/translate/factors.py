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
        char = chr(arg)
        return char.lower() if char.isascii() else char     # bytes.lower() is ASCII-only
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


MAX_ALTERNATIVES = 64


def _exact(item: tuple[Any, Any]) -> set[str] | None:
    """Every string ``item`` can match, when it is a few literal alternatives (how the
    prefilter writes a non-ASCII character: its UTF-8 bytes, or its JSON escape)."""
    op, arg = item
    char = _char_of(item)
    if char is not None:
        return {char}
    if op is C.SUBPATTERN:
        return _exact_seq(list(arg[3].data))
    if op is C.BRANCH:
        union: set[str] = set()
        for branch in arg[1]:
            found = _exact_seq(list(branch.data))
            if found is None:
                return None
            union |= found
        return union if len(union) <= MAX_ALTERNATIVES else None
    return None


def _exact_seq(items: list[tuple[Any, Any]]) -> set[str] | None:
    strings = {""}
    for item in items:
        found = _exact(item)
        if found is None or len(strings) * len(found) > MAX_ALTERNATIVES:
            return None
        strings = {a + b for a in strings for b in found}
    return strings


def _seq_factors(items: list[tuple[Any, Any]]) -> set[str] | None:
    """The best set of factors one of which every match of ``items`` holds: runs of
    consecutive literal items (with their alternatives multiplied out: a Cyrillic word
    is a run of two-byte alternatives), or what one item requires."""
    best: set[str] | None = None
    run: set[str] = {""}
    for item in items:
        exact = _exact(item)
        if exact is not None and len(run) * len(exact) <= MAX_ALTERNATIVES:
            run = {a + b for a in run for b in exact}
            continue
        if run != {""}:
            best = _better(best, run)
        run = {""}
        if exact is not None:
            run = exact
            continue
        best = _better(best, _item_factors(item))
    if run != {""}:
        best = _better(best, run)
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

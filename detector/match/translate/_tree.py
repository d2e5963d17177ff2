"""Python's own regex parse tree, shared by the translators."""

from __future__ import annotations

import importlib
import re
from typing import Any

# Python's own regex parser (the tree `re` compiles from); private but stable across 3.11+.
P: Any = importlib.import_module("re._parser")
C: Any = importlib.import_module("re._constants")

MAXREPEAT = C.MAXREPEAT


class TranslateError(ValueError):
    """The pattern uses syntax outside the portable subset."""


def parse(pattern: str) -> Any:
    try:
        return P.parse(pattern, 0)
    except (re.error, OverflowError, RecursionError) as exc:
        raise TranslateError(f"unsupported regex syntax: {exc}") from None


def flags(arg: tuple[Any, ...], ignore: bool) -> bool:
    """Case-insensitivity inside a group with inline flags ``(?i:...)``."""
    _group, add, delete, _sub = arg
    if add & C.SRE_FLAG_IGNORECASE:
        ignore = True
    if delete & C.SRE_FLAG_IGNORECASE:
        ignore = False
    return ignore


def cases(char: str, ignore: bool) -> list[str]:
    if not ignore:
        return [char]
    variants = {char, char.lower(), char.upper(), char.swapcase()}
    return sorted(v for v in variants if len(v) == 1)

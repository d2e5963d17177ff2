"""The command line's sub-commands that are not the pipeline itself (light imports)."""

from __future__ import annotations

__all__ = ["plural"]


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 source``, ``2 sources``, ``1 library``/``2 libraries`` (give ``many``)."""
    return f"{count:,} {noun if count == 1 else (many or noun + 's')}"

"""Counts and spans of time as people read them, in every command's and page's output."""

from __future__ import annotations

__all__ = ["plural", "short_span"]


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 source``, ``2 sources``, ``1 library``/``2 libraries`` (give ``many``)."""
    return f"{count:,} {noun if count == 1 else (many or noun + 's')}"


def short_span(seconds: float) -> str:
    """``45s``, ``12m``, ``3.5h``, ``2.0d``: an age or a time left, in one short word."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"

"""The command line's sub-commands that are not the pipeline itself (light imports)."""

from __future__ import annotations

from detector.config.toml import parse_duration
from detector.errors import UserError

__all__ = ["duration_option"]


def duration_option(text: str, option: str, examples: str = "30m, 2h or 1d") -> float:
    """Seconds from a command-line duration, or the user's mistake in one line."""
    seconds = parse_duration(text)
    if seconds is None:
        raise UserError(f"{option} must be a duration like {examples}; got {text!r}")
    return seconds

"""Errors that reach the user.

A user's mistake (bad config, bad pack, bad arguments, unreadable input) is a
``UserError``: the command line prints its one-line message and exits 2, never a
traceback. Everything else is a bug or a runtime failure (exit 1).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ConfigError", "DetectorError", "InputError", "NotifyError", "StateError",
           "UserError"]


class DetectorError(Exception):
    """Base class of the detector's own errors."""


class UserError(DetectorError):
    """A mistake the user can fix; printed as one line, exit status 2."""


class ConfigError(UserError):
    """A problem in a config file or pattern pack, located as ``file:line: problem``."""

    def __init__(self, path: str | Path | None, line: int | None, problem: str) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.problem = problem
        super().__init__(self.located())

    def located(self) -> str:
        if self.path is None:
            return self.problem
        if self.line is None:
            return f"{self.path}: {self.problem}"
        return f"{self.path}:{self.line}: {self.problem}"


class InputError(UserError):
    """An input file that cannot be opened or read."""


class NotifyError(DetectorError):
    """A notification that a destination did not accept."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None,
                 status: int | None = None, response: str | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        self.response = response


class StateError(DetectorError):
    """Saved state that cannot be read back (corrupt, or from an unknown version): the file
    is set aside and the component starts afresh."""

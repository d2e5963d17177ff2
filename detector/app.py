"""The daemon's lifecycle (``detector run``)."""

from __future__ import annotations

from detector.config import Config
from detector.errors import UserError

__all__ = ["run"]


def run(config: Config, *, engine: str = "auto") -> int:
    raise UserError("detector run: the daemon is not part of this build yet; "
                    "use `detector replay` for files")

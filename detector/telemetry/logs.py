"""Logging: structlog, one event name and keyword fields, secrets masked in every line.

JSON lines (for journald, Docker and log shippers) unless stderr is a terminal,
where a readable console rendering is used. Every string in every log event goes
through :func:`detector.redact.redact_value` before it is written.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

from detector.redact import redact_value

__all__ = ["configure"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


def _redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
    return {key: redact_value(value) for key, value in event.items()}


def configure(level: str = "info", format: str = "auto", stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    console = format == "console" or (format == "auto" and is_tty(stream))
    renderer: Any = (structlog.dev.ConsoleRenderer(colors=is_tty(stream)) if console
                     else structlog.processors.JSONRenderer())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )


def is_tty(stream: TextIO) -> bool:
    """Is ``stream`` a terminal (colours, progress lines)?"""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False

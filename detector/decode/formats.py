"""The input formats ``--format`` names, and which one a line is in (``auto``).

JSON formats are one object per line; the field conventions of all of them are read
by :mod:`detector.decode.fields` whatever the name (a structlog line named ``ecs`` is
still read right). Naming a JSON format makes every line that is not a JSON object
count as malformed. Kubernetes CRI and logfmt are recognised per line by their shape;
gunicorn, uvicorn and Celery write plain text whose leading time and level word the
plain reader takes (naming them reads lines as plain text).

``FORMATS`` is the tuple the command line's ``--format`` and the config's ``format``
choose from; ``detect_format`` says which format one line is in (docs, tests and
``auto``'s per-line reading agree on it).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["FORMATS", "JSON_FORMATS", "cri_parts", "detect_format", "json_format",
           "logfmt_fields"]

FORMATS = ("auto", "plain", "json", "docker", "cloudwatch", "structlog", "python-json",
           "loguru", "ecs", "gcp", "journald", "cri", "logfmt", "gunicorn", "uvicorn",
           "celery")
JSON_FORMATS = frozenset({"json", "docker", "cloudwatch", "structlog", "python-json",
                          "loguru", "ecs", "gcp", "journald"})

# 2026-05-01T10:00:00.123456789Z stdout F message   (P: partial, continued by the next)
_CRI = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d))"
                  r" (stdout|stderr) ([PF])(?::\S*)?(?: |$)")
# key=value pairs; values bare or double-quoted with backslash escapes
_PAIR = re.compile(r'([A-Za-z_@][\w.@/-]*)=("(?:[^"\\]|\\.)*"|[^\s"]*)\s*')
_LOGFMT_MESSAGE = ("msg", "message")
_LOGFMT_MARKERS = frozenset({"level", "lvl", "time", "ts", "t", "severity"})
_GUNICORN = re.compile(
    r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[\d+\] \[[A-Z]+\] "        # error log
    r"|\S+ \S+ \S+ \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] \"")  # access log
_UVICORN = re.compile(r"(?:TRACE|DEBUG|INFO|WARNING|ERROR|CRITICAL):\s+\S")
_CELERY = re.compile(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}: [A-Z]+/[\w.-]+\] ")


def cri_parts(text: str) -> tuple[str, str, bool, str] | None:
    """(time, stream, partial, message) of a CRI container log line, else None."""
    if text[:1].isdigit():
        match = _CRI.match(text)
        if match is not None:
            return match.group(1), match.group(2), match.group(3) == "P", text[match.end():]
    return None


def logfmt_fields(text: str) -> dict[str, str] | None:
    """The pairs of a logfmt line (``time=… level=error msg="…"``), else None.

    A line is logfmt when it starts with a pair, holds a ``msg`` (or ``message``) and a
    level or time key: free text that happens to hold ``retry_count=418`` is not.
    """
    if not text[:1].isalpha() or "=" not in text[:64]:
        return None
    fields: dict[str, str] = {}
    position = 0
    size = len(text)
    while position < size:
        match = _PAIR.match(text, position)
        if match is None:
            break
        value = match.group(2)
        if not value and text[match.end(2):match.end(2) + 1] == '"':
            # a quote never closed (a line cut short): the value is the rest of the line
            fields.setdefault(match.group(1), _unquote(text[match.end(2) + 1:]))
            break
        if value[:1] == '"':
            value = _unquote(value[1:-1])
        fields.setdefault(match.group(1), value)
        position = match.end()
    if not fields or not any(k in fields for k in _LOGFMT_MESSAGE):
        return None
    if _LOGFMT_MARKERS.isdisjoint(fields):
        return None
    return fields


def _unquote(value: str) -> str:
    if "\\" not in value:
        return value
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(
        m.group(1), m.group(1)), value)


def json_format(data: dict[str, Any]) -> str:
    """Which JSON convention an object follows (for ``detect_format``)."""
    if "__REALTIME_TIMESTAMP" in data or "_SYSTEMD_UNIT" in data or (
            "MESSAGE" in data and ("PRIORITY" in data or "SYSLOG_IDENTIFIER" in data)):
        return "journald"
    if isinstance(data.get("record"), dict) and "text" in data:
        return "loguru"
    if "textPayload" in data or "jsonPayload" in data or (
            "severity" in data and any(k.startswith("logging.googleapis.com/") for k in data)):
        return "gcp"
    if "ecs.version" in data or isinstance(data.get("ecs"), dict) or "log.level" in data:
        return "ecs"
    if "log" in data and "stream" in data and "time" in data:
        return "docker"
    if "logStreamName" in data or ("timestamp" in data and "message" in data
                                   and "ingestionTime" in data):
        return "cloudwatch"
    if "event" in data and "message" not in data and "msg" not in data:
        return "structlog"
    if "levelname" in data or "asctime" in data:
        return "python-json"
    return "json"


def detect_format(line: str) -> str:
    """The format of one line, as ``auto`` reads it."""
    if line[:1] == "{":
        import orjson

        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError:
            return "plain"
        return json_format(data) if isinstance(data, dict) else "plain"
    if cri_parts(line) is not None:
        return "cri"
    if logfmt_fields(line) is not None:
        return "logfmt"
    if _CELERY.match(line):
        return "celery"
    if _GUNICORN.match(line):
        return "gunicorn"
    if _UVICORN.match(line):
        return "uvicorn"
    return "plain"

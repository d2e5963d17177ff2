"""One line into a record: the JSON field conventions, and plain text.

JSON lines (one object per line): the message is the first of ``message``,
``msg``, ``log``, ``MESSAGE``; the time the first of ``@timestamp``,
``timestamp``, ``time``, ``ts``; the service the first of ``service``,
``service.name``, ``app``, ``container_name``; the level the first of ``level``,
``severity``, ``levelname``, ``lvl`` (then ECS ``log.level``). An exception or
stack field (``exc_info``, ``stack_trace``, ``error``…) is appended to the text
patterns see. Docker's json-file records and CloudWatch exports are JSON lines
too; a message that is itself a JSON object is decoded in turn. Plain lines take
their time from a leading timestamp and their level from a level word or an
access-log status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from detector.decode.levels import level_of_line, level_of_value
from detector.decode.prefix import strip_prefix
from detector.decode.timestamps import leading_timestamp, parse_time_value
from detector.model import NOLEVEL

__all__ = ["Record", "decode_line"]

_MESSAGE_KEYS = ("message", "msg", "log", "MESSAGE")
_TIME_KEYS = ("@timestamp", "timestamp", "time", "ts")
_SERVICE_KEYS = ("service", "service.name", "app", "container_name")
_LEVEL_KEYS = ("level", "severity", "levelname", "lvl")
_EXCEPTION_KEYS = ("exc_info", "exception", "exc_text", "stack_trace", "stacktrace",
                   "stack", "traceback", "error")


@dataclass(slots=True)
class Record:
    text: str                 # what patterns are matched against
    time: float | None
    service: str | None
    level: int
    is_json: bool = False
    partial: bool = False     # a Docker json-file record split at 16 KB (no final newline)
    malformed: bool = False   # looked like JSON but was not
    _body: str | None = None

    @property
    def body(self) -> str:
        """The text without its leading time, level and logger or process prefix: what
        tells whether a line continues a traceback when every line carries a prefix
        (docker compose, syslog, journald exports, a handler that prefixes each line)."""
        if self._body is None:
            self._body = self.text if self.is_json else strip_prefix(self.text)
        return self._body


def decode_line(raw: bytes, *, allow_json: bool = True, year_hint: int | None = None) -> Record:
    """Decode one raw line (without its newline). Never raises."""
    if allow_json and raw[:1] == b"{":
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            record = _plain(raw.decode("utf-8", "replace"), year_hint)
            record.malformed = True
            return record
        if isinstance(data, dict):
            return _from_json(data, year_hint, nested=True)
        record = _plain(raw.decode("utf-8", "replace"), year_hint)
        record.malformed = True
        return record
    return _plain(raw.decode("utf-8", "replace"), year_hint)


def _plain(text: str, year_hint: int | None) -> Record:
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return Record(text=text, time=leading_timestamp(text, year_hint=year_hint), service=None,
                  level=level_of_line(text))


def _first(data: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = data.get(key)
        if value is not None and value != "":
            return value
    return None


def _from_json(data: dict[str, Any], year_hint: int | None, *, nested: bool) -> Record:
    """A JSON object as a record; ``nested``: a message that is itself JSON is decoded."""
    message = _first(data, _MESSAGE_KEYS)
    partial = False
    if isinstance(message, str):
        text = message
        if "stream" in data and "log" in data and _first(data, _MESSAGE_KEYS[:2]) is None:
            # Docker json-file: a record without its final newline continues in the next.
            partial = not text.endswith("\n")
        text = text.rstrip("\r\n")
    elif message is None:
        text = orjson.dumps(data).decode()
    else:
        text = orjson.dumps(message).decode()

    service = _service(data)
    level = _level(data)
    time = parse_time_value(_first(data, _TIME_KEYS))

    extra = _exception_text(data)
    if nested and isinstance(message, str) and text[:1] == "{" and text.rstrip()[-1:] == "}":
        inner = _inner_json(text)
        if inner is not None:
            inner_text = f"{inner.text}\n{extra}" if extra else inner.text
            return Record(text=inner_text,
                          time=inner.time if inner.time is not None else time,
                          service=inner.service or service,
                          level=inner.level if inner.level != NOLEVEL else level,
                          is_json=True, partial=partial)
    if extra:
        text = f"{text}\n{extra}"
    if level == NOLEVEL:
        level = level_of_line(text)
    if time is None and text:
        time = leading_timestamp(text, year_hint=year_hint)
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return Record(text=text, time=time, service=service, level=level, is_json=True,
                  partial=partial)


def _inner_json(text: str) -> Record | None:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return _from_json(data, None, nested=False) if isinstance(data, dict) else None


def _service(data: dict[str, Any]) -> str | None:
    value = _first(data, _SERVICE_KEYS)
    if isinstance(value, dict):
        value = value.get("name")
    if isinstance(value, str) and value:
        return value.lstrip("/")
    return None


def _level(data: dict[str, Any]) -> int:
    value = _first(data, _LEVEL_KEYS)
    if value is None:
        log = data.get("log")
        if isinstance(log, dict):
            value = log.get("level")
    return level_of_value(value) if value is not None else NOLEVEL


def _exception_text(data: dict[str, Any]) -> str:
    parts = []
    for key in _EXCEPTION_KEYS:
        value = data.get(key)
        if isinstance(value, dict):
            value = value.get("stack_trace") or value.get("message")
        if isinstance(value, list):
            value = "".join(v for v in value if isinstance(v, str))
        if isinstance(value, str) and value and value not in parts:
            parts.append(value.rstrip("\n"))
    return "\n".join(parts)

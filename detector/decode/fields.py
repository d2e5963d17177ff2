"""One line into a record: the JSON and logfmt field conventions, CRI frames, plain text.

JSON lines (one object per line): the message is the first of ``message``, ``msg``,
``log``, ``MESSAGE``, ``textPayload``, ``event`` (structlog); the time the first of
``@timestamp``, ``timestamp``, ``time``, ``ts``, ``asctime``; the service the first of
``service``, ``service.name``, ``app``, ``container_name``, ``serviceContext.service``,
``resource.labels``' container or service name; the level the first of ``level``,
``severity``, ``levelname``, ``lvl``, ECS ``log.level``. An exception or stack field
(``exc_info``, ``exception``, ``stack_trace``, ECS ``error.stack_trace``, structlog's
``dict_tracebacks``…) is appended to the text patterns see. Google Cloud Logging's
``jsonPayload`` is read as the record; loguru's ``serialize`` records (``text`` and
``record``) and journald's JSON (``MESSAGE``, ``PRIORITY``, ``_SYSTEMD_UNIT``…) have
their own readers. Docker's json-file records and CloudWatch exports are JSON lines
too; a message that is itself a JSON object is decoded in turn.

Kubernetes CRI lines (``<time> stdout F <message>``) are read as their message with the
CRI time; ``P`` marks a partial line that the next one continues. logfmt lines
(``level=error msg="…"``) are read by their keys. Plain lines take their time from a
leading timestamp and their level from a level word or an access-log status.

A time outside the plausible range is dropped (the record is untimed) and marked
``absurd``, for the caller to count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from detector.decode.formats import JSON_FORMATS, cri_parts, logfmt_fields
from detector.decode.levels import level_of_line, level_of_value
from detector.decode.prefix import strip_prefix
from detector.decode.timestamps import leading_timestamp, parse_iso, parse_time_value, plausible
from detector.model import CRITICAL, DEBUG, ERROR, INFO, NOLEVEL, WARNING

__all__ = ["Record", "decode_line"]

_MESSAGE_KEYS = ("message", "msg", "log", "MESSAGE", "textPayload", "event")
_TIME_KEYS = ("@timestamp", "timestamp", "time", "ts", "asctime")
_SERVICE_KEYS = ("service", "service.name", "app", "container_name")
_LEVEL_KEYS = ("level", "severity", "levelname", "lvl", "log.level")
_EXCEPTION_KEYS = ("exc_info", "exception", "exc_text", "stack_trace", "stacktrace",
                   "stack", "traceback", "error", "error.stack_trace")
_LOGFMT_TIME = ("time", "ts", "t", "timestamp")
_LOGFMT_LEVEL = ("level", "lvl", "severity")
_LOGFMT_SERVICE = ("service", "app", "service.name")
_LOGFMT_EXCEPTION = ("error", "err", "exception", "exc_info", "stacktrace", "stack",
                     "traceback")
# journald's PRIORITY is syslog's severity: 0 emerg … 3 err, 4 warning, 6 info, 7 debug
_PRIORITY = {"0": CRITICAL, "1": CRITICAL, "2": CRITICAL, "3": ERROR, "4": WARNING,
             "5": INFO, "6": INFO, "7": DEBUG}


@dataclass(slots=True)
class Record:
    text: str                 # what patterns are matched against
    time: float | None
    service: str | None
    level: int
    is_json: bool = False     # a structured record (JSON or logfmt): its fields say it all
    partial: bool = False     # a Docker json-file or CRI line split by the runtime
    malformed: bool = False   # looked like JSON but was not
    absurd: bool = False      # it had a time, outside the plausible range: dropped
    framed: bool = False      # the message of a CRI frame (every line carries the frame)
    _body: str | None = None

    @property
    def body(self) -> str:
        """The text without its leading time, level and logger or process prefix: what
        tells whether a line continues a traceback when every line carries a prefix
        (docker compose, syslog, journald exports, a handler that prefixes each line)."""
        if self._body is None:
            self._body = self.text if self.is_json else strip_prefix(self.text)
        return self._body

    @property
    def whole(self) -> bool:
        """A structured record whose message spans several lines is a whole event: a
        traceback inside it is its own, and no neighbouring line belongs to it."""
        return self.is_json and "\n" in self.text


def decode_line(raw: bytes, *, allow_json: bool = True, year_hint: int | None = None,
                format: str = "auto") -> Record:
    """Decode one raw line (without its newline). Never raises."""
    record = _decode(raw, allow_json, year_hint, format)
    when = record.time
    if when is not None and not plausible(when):
        record.time = None
        record.absurd = True
    return record


def _decode(raw: bytes, allow_json: bool, year_hint: int | None, format: str) -> Record:
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
    text = raw.decode("utf-8", "replace")
    if format == "plain" or format in JSON_FORMATS:
        return _plain(text, year_hint)
    if format in ("auto", "cri") and (parts := cri_parts(text)) is not None:
        return _from_cri(parts, allow_json, year_hint)
    if format in ("auto", "logfmt") and (fields := logfmt_fields(text)) is not None:
        return _from_logfmt(fields, text, year_hint)
    return _plain(text, year_hint)


def _plain(text: str, year_hint: int | None) -> Record:
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return Record(text=text, time=leading_timestamp(text, year_hint=year_hint), service=None,
                  level=level_of_line(text))


def _from_cri(parts: tuple[str, str, bool, str], allow_json: bool,
              year_hint: int | None) -> Record:
    stamp, _, partial, message = parts
    when = parse_iso(stamp)
    if allow_json and not partial and message[:1] == "{" and message.rstrip()[-1:] == "}":
        inner = _inner_json(message)
        if inner is not None:
            if inner.time is None:
                inner.time = when
            inner.partial = False
            return inner
    record = _plain(message, year_hint)
    record.time = when
    record.partial = partial
    record.framed = True
    return record


# Structured fields that say what went wrong without words: kept in the text, as
# ``key=value`` after the message's first line, so codes are recognised (status=503,
# errno=111, sqlstate=40P01, close_code=1006).
_CODE_KEYS = ("status", "status_code", "statusCode", "http_status", "response_status",
              "code", "error_code", "errorCode", "errno", "sqlstate", "pgcode", "close_code",
              "error_type")


def _with_codes(text: str, fields: dict[str, Any]) -> str:
    codes = []
    for key in _CODE_KEYS:
        value = fields.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and value != "":
            value = str(value)
            if len(value) <= 80 and "\n" not in value:
                codes.append(f"{key}={value}")
    if not codes:
        return text
    first, newline, rest = text.partition("\n")
    return f"{first} {' '.join(codes)}{newline}{rest}" if first else " ".join(codes) + \
        newline + rest


def _from_logfmt(fields: dict[str, str], text: str, year_hint: int | None) -> Record:
    message = _with_codes(fields.get("msg") or fields.get("message") or "", fields)
    extra = [fields[k] for k in _LOGFMT_EXCEPTION if fields.get(k)]
    if extra:
        message = "\n".join([message, *extra])
    level_value = _first(fields, _LOGFMT_LEVEL)
    level = level_of_value(level_value) if level_value is not None else NOLEVEL
    if level == NOLEVEL:
        level = level_of_line(message)
    stamp = _first(fields, _LOGFMT_TIME)
    when = parse_time_value(stamp) if stamp is not None else None
    service = _first(fields, _LOGFMT_SERVICE)
    if "\x00" in message:
        message = message.replace("\x00", "\ufffd")
    return Record(text=message, time=when, service=service or None, level=level, is_json=True)


def _first(data: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = data.get(key)
        if value is not None and value != "":
            return value
    return None


def _from_json(data: dict[str, Any], year_hint: int | None, *, nested: bool) -> Record:
    """A JSON object as a record; ``nested``: a message that is itself JSON is decoded."""
    if "MESSAGE" in data and ("PRIORITY" in data or "__REALTIME_TIMESTAMP" in data
                              or "_SYSTEMD_UNIT" in data or "SYSLOG_IDENTIFIER" in data):
        return _from_journald(data)
    record = data.get("record")
    if isinstance(record, dict) and isinstance(data.get("text"), str):
        return _from_loguru(data["text"], record)
    payload = data.get("jsonPayload")
    if isinstance(payload, dict):              # Google Cloud Logging's structured entry
        data = {**payload, **{k: v for k, v in data.items() if k != "jsonPayload"}}
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
    if message is not None:
        text = _with_codes(text, data)
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


def _from_journald(data: dict[str, Any]) -> Record:
    """``journalctl --output=json``: MESSAGE (text, or bytes as a list of numbers)."""
    message = data.get("MESSAGE")
    if isinstance(message, list):
        try:
            message = bytes(v for v in message if isinstance(v, int) and 0 <= v < 256) \
                .decode("utf-8", "replace")
        except ValueError:
            message = ""
    text = message.rstrip("\r\n") if isinstance(message, str) else ""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    priority = data.get("PRIORITY")
    level = _PRIORITY.get(str(priority), NOLEVEL) if priority is not None else NOLEVEL
    if level == NOLEVEL:
        level = level_of_line(text)
    when = parse_time_value(data.get("_SOURCE_REALTIME_TIMESTAMP")
                            or data.get("__REALTIME_TIMESTAMP"))
    service = None
    # UNIT: systemd's own messages about a unit ("orders.service: Failed with result…")
    for key in ("CONTAINER_NAME", "UNIT", "_SYSTEMD_UNIT", "SYSLOG_IDENTIFIER", "_COMM"):
        value = data.get(key)
        if isinstance(value, str) and value:
            service = value.removesuffix(".service")
            break
    return Record(text=text, time=when, service=service, level=level, is_json=True)


def _from_loguru(formatted: str, record: dict[str, Any]) -> Record:
    """loguru's ``serialize=True``: the formatted ``text`` (with the traceback) and the
    ``record`` (message, level, time, exception, extra)."""
    message = record.get("message")
    message = message if isinstance(message, str) else ""
    full = formatted.rstrip("\r\n")
    start = full.find(message) if message else -1
    text = full[start:] if start >= 0 else message
    exception = record.get("exception")
    if isinstance(exception, dict) and start < 0:
        kind, value = exception.get("type"), exception.get("value")
        if isinstance(kind, str):
            text = f"{text}\n{kind}: {value}" if value is not None else f"{text}\n{kind}"
    level_value = record.get("level")
    if isinstance(level_value, dict):
        level_value = level_value.get("name") or level_value.get("no")
    level = level_of_value(level_value) if level_value is not None else NOLEVEL
    stamp = record.get("time")
    if isinstance(stamp, dict):
        stamp = stamp.get("timestamp") or stamp.get("repr")
    when = parse_time_value(stamp)
    extra = record.get("extra")
    service = _service(extra) if isinstance(extra, dict) else None
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return Record(text=text, time=when, service=service, level=level, is_json=True)


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
    if value is None:
        context = data.get("serviceContext")          # Google Error Reporting
        if isinstance(context, dict):
            value = context.get("service")
    if value is None:
        resource = data.get("resource")               # Google Cloud Logging
        labels = resource.get("labels") if isinstance(resource, dict) else None
        if isinstance(labels, dict):
            value = _first(labels, ("container_name", "service_name", "function_name",
                                    "job_name"))
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
    parts: list[str] = []
    for key in _EXCEPTION_KEYS:
        value = data.get(key)
        if isinstance(value, dict):
            value = value.get("stack_trace") or value.get("message")
        if isinstance(value, list):
            value = "".join(v if isinstance(v, str) else _structured_exception(v)
                            for v in value)
        if isinstance(value, str) and value and value not in parts:
            parts.append(value.rstrip("\n"))
    return "\n".join(parts)


def _structured_exception(value: object) -> str:
    """One exception of structlog's ``dict_tracebacks``, as Python would print it."""
    if not isinstance(value, dict):
        return ""
    lines = ["Traceback (most recent call last):"]
    frames = value.get("frames")
    if isinstance(frames, list):
        for frame in frames:
            if isinstance(frame, dict):
                lines.append(f'  File "{frame.get("filename")}", line {frame.get("lineno")}, '
                             f'in {frame.get("name")}')
    kind, message = value.get("exc_type"), value.get("exc_value")
    lines.append(f"{kind}: {message}" if message else str(kind))
    return "\n".join(lines) + "\n"

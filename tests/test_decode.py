"""Decoding one line: timestamps, levels, and the JSON field conventions."""

from __future__ import annotations

import calendar

import orjson
import pytest

from detector.decode.fields import decode_line
from detector.decode.levels import level_of_line, level_of_value
from detector.decode.timestamps import leading_timestamp, parse_time_value
from detector.model import CRITICAL, DEBUG, ERROR, INFO, NOLEVEL, WARNING

T0 = calendar.timegm((2026, 11, 20, 10, 0, 0))


@pytest.mark.parametrize(("line", "expected"), [
    ("2026-11-20T10:00:00Z boot", T0),
    ("2026-11-20T10:00:00.250Z x", T0 + 0.25),
    ("2026-11-20T12:00:00+02:00 x", T0),
    ("2026-11-20 10:00:00,123 ERROR x", T0 + 0.123),
    ("2026-11-20 10:00:00.123 UTC [42] ERROR:  deadlock detected", T0 + 0.123),
    ("2026/11/20 10:00:00 [error] 31#31: *1 connect() failed", T0),
    ('10.0.0.1 - - [20/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1', T0),
    ('10.0.0.1 - - [20/Nov/2026:11:00:00 +0100] "GET / HTTP/1.1" 200 1', T0),
    ("[2026-11-20 10:00:00,000: ERROR/MainProcess] consumer: Cannot connect", T0),
    ("[2026-11-20 10:00:00 +0000] [1] [CRITICAL] WORKER TIMEOUT (pid:87)", T0),
    ("2026-11-20T10:00:00.123456789Z docker", T0 + 0.123456789),
])
def test_leading_timestamps(line: str, expected: float) -> None:
    assert leading_timestamp(line) == pytest.approx(expected)


def test_syslog_time_takes_the_year_hint() -> None:
    assert leading_timestamp("Nov 20 10:00:00 host kernel: x", year_hint=2026) == T0


@pytest.mark.parametrize("line", [
    "no time here", "user 2026 logged in", "order 12:30 at desk", "2026-13-45 99:99:99 bad",
    "ERROR: took 2026-11-20T10:00:00Z but that is late in the line " + "x" * 60 + " 2026-11-20T10:00:00Z",
])
def test_no_leading_timestamp(line: str) -> None:
    if line.startswith("ERROR: took"):
        # a timestamp deep inside the message is content, not the line's time
        assert leading_timestamp("x" * 60 + " 2026-11-20T10:00:00Z") is None
    else:
        assert leading_timestamp(line) is None


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-11-20T10:00:00Z", T0), (T0, T0), (T0 * 1000, T0), (T0 * 1_000_000, T0),
    (T0 * 1_000_000_000, T0), (str(T0 * 1000), T0), ("2026-11-20", T0 - 36000),
    ("garbage", None), (True, None), (None, None), (-5, None),
])
def test_json_time_values(value: object, expected: float | None) -> None:
    result = parse_time_value(value)
    assert result == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(("line", "level"), [
    ("2026-11-20 10:00:00,123 ERROR [api] x", ERROR),
    ("2026-11-20 10:00:00,123 INFO [api] ERROR count=0", INFO),
    ("2026-11-20 10:00:00 WARNING retrying", WARNING),
    ("[2026-11-20 10:00:00,000: ERROR/MainProcess] consumer", ERROR),
    ("2026/11/20 10:00:00 [crit] 31#31: accept4() failed", CRITICAL),
    ("time=2026-11-20T10:00:00Z level=error msg=boom", ERROR),
    ("ERROR:    Exception in ASGI application", ERROR),
    ('10.0.0.1 - - [20/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 503 1', ERROR),
    ('INFO:     1.2.3.4:5 - "GET / HTTP/1.1" 500 Internal Server Error', ERROR),
    ('10.0.0.1 - - [20/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 404 1', WARNING),
    ('10.0.0.1 - - [20/Nov/2026:10:00:00 +0000] "GET /errors HTTP/1.1" 200 503', INFO),
    ("nothing to see", NOLEVEL),
    ("app.ERROR_CODES loaded", NOLEVEL),
])
def test_levels_of_plain_lines(line: str, level: int) -> None:
    assert level_of_line(line) == level


@pytest.mark.parametrize(("value", "level"), [
    ("error", ERROR), ("ERROR", ERROR), ("Warning", WARNING), ("fatal", CRITICAL),
    ("info", INFO), ("debug", DEBUG), (50, ERROR), (60, CRITICAL), (30, INFO), ("50", ERROR),
    ("loud", NOLEVEL), (None, NOLEVEL),
])
def test_levels_of_json_values(value: object, level: int) -> None:
    assert level_of_value(value) == level


def test_json_line_conventions() -> None:
    record = decode_line(orjson.dumps({
        "@timestamp": "2026-11-20T10:00:00Z", "service": "api", "level": "error",
        "message": "boom", "exc_info": "Traceback (most recent call last):\nValueError: x"}))
    assert record.is_json
    assert (record.time, record.service, record.level) == (T0, "api", ERROR)
    assert record.text == "boom\nTraceback (most recent call last):\nValueError: x"


@pytest.mark.parametrize(("data", "service"), [
    ({"msg": "x", "service": {"name": "billing"}}, "billing"),
    ({"msg": "x", "service.name": "billing"}, "billing"),
    ({"msg": "x", "app": "billing"}, "billing"),
    ({"msg": "x", "container_name": "/billing-1"}, "billing-1"),
    ({"msg": "x"}, None),
])
def test_json_service_fields(data: dict[str, object], service: str | None) -> None:
    assert decode_line(orjson.dumps(data)).service == service


def test_message_field_precedence_and_levels_fall_back_to_the_text() -> None:
    record = decode_line(b'{"msg": "second", "message": "first", "ts": 1795168800}')
    assert record.text == "first"
    assert record.level == NOLEVEL
    record = decode_line(b'{"log": "2026-11-20 10:00:00,000 ERROR boom\\n", "stream": "stderr",'
                         b' "time": "2026-11-20T10:00:00.5Z"}')
    assert (record.text, record.level, record.time, record.partial) == (
        "2026-11-20 10:00:00,000 ERROR boom", ERROR, T0 + 0.5, False)


def test_docker_partial_lines_are_marked() -> None:
    record = decode_line(b'{"log": "first half of a 16K line", "stream": "stdout", "time": "2026-11-20T10:00:00Z"}')
    assert record.partial


def test_cloudwatch_export_with_a_json_message() -> None:
    inner = orjson.dumps({"level": "error", "service": "wallet", "message": "LockError: x"})
    record = decode_line(orjson.dumps({"timestamp": T0 * 1000, "message": inner.decode(),
                                       "logStreamName": "ecs/wallet/1"}))
    assert (record.text, record.service, record.level, record.time) == (
        "LockError: x", "wallet", ERROR, T0)


@pytest.mark.parametrize("raw", [
    b'{"message": "truncated', b"{not json}", b'{"message": "x"} trailing', b'{"a": 1,}',
])
def test_broken_json_is_counted_and_read_as_text(raw: bytes) -> None:
    record = decode_line(raw)
    assert record.malformed
    assert record.text == raw.decode()


def test_invalid_utf8_and_nul_bytes_never_raise() -> None:
    record = decode_line(b"2026-11-20 10:00:00 ERROR bad \xff\xfe bytes \x00 here")
    assert "\ufffd" in record.text
    assert "\x00" not in record.text
    assert record.level == ERROR


def test_format_plain_turns_json_off() -> None:
    record = decode_line(b'{"message": "x", "level": "error"}', allow_json=False)
    assert not record.is_json
    assert record.text == '{"message": "x", "level": "error"}'

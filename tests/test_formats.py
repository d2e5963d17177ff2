"""Every input format users' systems write: recognised per line, fields read right."""

from __future__ import annotations

import calendar
import io
import re
from pathlib import Path

import orjson
import pytest

from detector.config import load_config
from detector.decode.events import Origin, Stream, assemble, service_from_path
from detector.decode.fields import decode_line
from detector.decode.formats import FORMATS, detect_format
from detector.model import CRITICAL, ERROR, INFO, WARNING
from detector.replay.run import ReplayOptions, replay

ROOT = Path(__file__).resolve().parents[1]
T0 = calendar.timegm((2026, 5, 1, 10, 0, 0))


def documented_examples() -> dict[str, str]:
    """docs/formats.md: ``## name`` then a fenced one-line example."""
    text = (ROOT / "docs" / "formats.md").read_text()
    return dict(re.findall(r"^## ([\w-]+)\n\n```\n(.+)\n```", text, flags=re.M))


def test_every_format_is_documented_with_an_example_auto_recognises() -> None:
    examples = documented_examples()
    assert set(examples) == set(FORMATS) - {"auto"}
    for name, line in examples.items():
        assert detect_format(line) == name, (name, line)


def test_the_cli_and_the_config_offer_every_format() -> None:
    from detector.config.sources import FORMATS as CONFIG_FORMATS

    assert CONFIG_FORMATS == FORMATS


@pytest.mark.parametrize("name", sorted(set(FORMATS) - {"auto"}))
def test_each_documented_example_decodes_to_a_whole_record(name: str) -> None:
    record = decode_line(documented_examples()[name].encode())
    assert record.text and "\\n" not in record.text
    assert not record.malformed
    if name != "uvicorn":
        assert record.time is not None and 1777000000 < record.time < 1778000000, name
    assert record.level >= ERROR, name


def test_structlog_event_is_the_message() -> None:
    record = decode_line(b'{"event": "LockError: Unable to acquire lock on lock:a:1", '
                         b'"level": "error", "timestamp": "2026-05-01T10:00:00Z", '
                         b'"logger": "worker"}')
    assert (record.text, record.level, record.time) == (
        "LockError: Unable to acquire lock on lock:a:1", ERROR, T0)


def test_structlog_dict_tracebacks_read_as_a_traceback() -> None:
    record = decode_line(orjson.dumps({
        "event": "failed", "level": "error", "exception": [{
            "exc_type": "DeadlockDetected", "exc_value": "deadlock detected",
            "frames": [{"filename": "/app/x.py", "lineno": 3, "name": "run"}]}]}))
    assert record.text.splitlines() == [
        "failed", "Traceback (most recent call last):", '  File "/app/x.py", line 3, in run',
        "DeadlockDetected: deadlock detected"]


def test_loguru_takes_the_traceback_from_text() -> None:
    record = decode_line(documented_examples()["loguru"].encode())
    assert record.text.startswith("boom\nTraceback (most recent call last):")
    assert record.text.endswith("ZeroDivisionError: division by zero")
    assert (record.service, record.level, record.time) == ("api", ERROR, T0)


def test_ecs_fields() -> None:
    record = decode_line(documented_examples()["ecs"].encode())
    assert (record.service, record.level, record.time) == ("billing", ERROR, T0)
    assert record.text.endswith("ConnectionError: refused")


def test_gcp_text_and_json_payloads() -> None:
    record = decode_line(documented_examples()["gcp"].encode())
    assert (record.text, record.service, record.level) == (
        "upstream timed out", "checkout", ERROR)
    assert record.time == pytest.approx(T0 + 0.123456789)
    record = decode_line(b'{"severity": "WARNING", "textPayload": "slow", '
                         b'"timestamp": {"seconds": 1777629600, "nanos": 500000000}, '
                         b'"serviceContext": {"service": "pay"}}')
    assert (record.text, record.level, record.time, record.service) == (
        "slow", WARNING, T0 + 0.5, "pay")


@pytest.mark.parametrize(("priority", "level"), [("0", CRITICAL), ("3", ERROR),
                                                  ("4", WARNING), ("6", INFO)])
def test_journald_priority_unit_and_time(priority: str, level: int) -> None:
    record = decode_line(orjson.dumps({
        "__REALTIME_TIMESTAMP": "1777629600000000", "PRIORITY": priority,
        "_SYSTEMD_UNIT": "orders.service", "SYSLOG_IDENTIFIER": "orders-bin",
        "MESSAGE": "x"}))
    assert (record.level, record.service, record.time) == (level, "orders", T0)


def test_journald_binary_message_and_identifier() -> None:
    record = decode_line(orjson.dumps({"MESSAGE": list(b"bad \xff byte"), "PRIORITY": "3",
                                       "SYSLOG_IDENTIFIER": "cron"}))
    assert (record.text, record.service) == ("bad \ufffd byte", "cron")


def test_cri_partial_lines_are_joined_and_the_container_is_the_service(hs_engine) -> None:  # type: ignore[no-untyped-def]
    text = ("2026-05-01T10:00:00.000000001Z stdout F starting\n"
            "2026-05-01T10:00:01.5Z stderr P LockError: Unable to acquire lock on lock:a:1 a\n"
            "2026-05-01T10:00:01.5Z stderr F fter 10 seconds\n"
            "2026-05-01T10:00:01.7Z stdout F INFO retrying\n"
            "2026-05-01T10:00:02Z stdout F Traceback (most recent call last):\n"
            '2026-05-01T10:00:02Z stdout F   File "/app/x.py", line 1, in f\n'
            "2026-05-01T10:00:02Z stdout F ValueError: bad\n")
    buf = text.encode()
    path = "/var/log/pods/shop_orders-7d9c_0f1e/orders-api/0.log"
    stream = Stream(origin=Origin.for_path(path))
    events, _ = assemble(buf, hs_engine.scan(buf), stream, final=True)
    lock, traceback = events
    assert lock.text == "LockError: Unable to acquire lock on lock:a:1 after 10 seconds"
    assert (lock.service, lock.time) == ("orders-api", T0 + 1.5)
    # a traceback after a log line belongs to it, as in any plain log
    assert traceback.lines == 4 and traceback.text.endswith("ValueError: bad")
    assert hs_engine.confirm(lock).pattern.cls == "lock_timeout"


def test_kubernetes_paths_name_the_container() -> None:
    assert service_from_path("/var/log/pods/shop_orders-7d9c_0f1e/orders-api/0.log") == \
        "orders-api"
    assert service_from_path(
        "/var/log/containers/orders-7d9c_shop_orders-api-" + "a" * 64 + ".log") == "orders-api"


def test_cri_message_that_is_json_is_read_as_json() -> None:
    record = decode_line(b'2026-05-01T10:00:00Z stdout F {"level": "error", "msg": "x", '
                         b'"service": "pay"}')
    assert (record.text, record.level, record.service, record.time) == ("x", ERROR, "pay", T0)


def test_logfmt_fields_and_escapes() -> None:
    record = decode_line(b'time=2026-05-01T10:00:00Z level=error msg="db \\"main\\" down" '
                         b'service=billing err="connection refused"')
    assert (record.text, record.level, record.time, record.service) == (
        'db "main" down\nconnection refused', ERROR, T0, "billing")


@pytest.mark.parametrize("line", [
    "retry_count=418 then something else",
    "GET /x?a=1 HTTP/1.1",
    "key=value without a message",
])
def test_text_with_an_equals_sign_is_not_logfmt(line: str) -> None:
    assert detect_format(line) == "plain"
    assert decode_line(line.encode()).text == line


@pytest.mark.parametrize(("line", "level"), [
    ('INFO:     127.0.0.1:5000 - "GET /pay HTTP/1.1" 500 Internal Server Error', ERROR),
    ('INFO:     127.0.0.1:5000 - "GET /pay HTTP/1.1" 500', ERROR),
    ('INFO:     127.0.0.1:5000 - "GET /pay HTTP/1.1" 200 OK', INFO),
    ('127.0.0.1 - - [01/May/2026:10:00:00 +0000] "GET / HTTP/1.1" 502 0 "-" "curl/8"', ERROR),
])
def test_access_lines_take_their_level_from_the_status(line: str, level: int) -> None:
    assert decode_line(line.encode()).level == level


def test_naming_a_json_format_counts_other_lines_as_malformed(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text('{"event": "ok", "level": "info", "timestamp": "2026-05-01T10:00:00Z"}\n'
                   "ERROR not json at all\n")
    out = io.StringIO()
    replay(load_config(None), ReplayOptions(paths=[str(log)], format="structlog"), out=out,
           err=io.StringIO())
    assert "1 malformed" in out.getvalue()


def test_auto_reads_a_file_mixing_formats_record_by_record(tmp_path: Path) -> None:
    examples = documented_examples()
    log = tmp_path / "mixed.log"
    log.write_text("\n".join(examples[name] for name in ("cri", "structlog", "json",
                                                          "celery", "ecs")) + "\n")
    out = io.StringIO()
    replay(load_config(None), ReplayOptions(paths=[str(log)], output="jsonl"), out=out,
           err=io.StringIO())
    services = {orjson.loads(line)["service"] for line in out.getvalue().splitlines()}
    assert services == {"billing", "orders", "mixed"}

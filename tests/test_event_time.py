"""Bad time in the input is absorbed by the watermark: counted, never a storm."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest

from detector.config import load_config
from detector.replay.run import ReplayOptions, replay


def lock(stamp: str) -> str:
    return f"{stamp} ERROR LockError: Unable to acquire lock on lock:a:1 after 1 seconds\n"


def test_bad_timestamps_do_not_crash_or_storm(tmp_path: Path) -> None:
    lines = []
    for minute in range(0, 180, 2):                        # three ordinary hours
        lines.append(f"2026-11-20 {10 + minute // 60:02d}:{minute % 60:02d}:00,000 INFO ok\n")
        if minute % 30 == 0:
            lines.append(lock(f"2026-11-20 {10 + minute // 60:02d}:{minute % 60:02d}:05,000"))
    lines.insert(20, "ERROR:    Exception in ASGI application\n")             # no timestamp
    lines.insert(40, lock("2099-01-01 00:00:00,000"))                           # far future
    lines.insert(60, lock("1999-01-01 00:00:00,000"))                           # far past
    lines.insert(80, lock("2026-11-20 09:00:00,000"))                           # backwards
    lines.append(lock("2026-11-22 13:00:00,000"))                              # a real jump,
    lines.append(lock("2026-11-22 13:00:30,000"))                              # confirmed
    log = tmp_path / "api.log"
    log.write_text("".join(lines))
    out = io.StringIO()
    assert replay(load_config(None), ReplayOptions(paths=[str(log)], output="jsonl"),
                  out=out, err=io.StringIO()) == 0
    events = [orjson.loads(line) for line in out.getvalue().splitlines()]
    opens = [e for e in events if e["event"] == "open"]
    assert len(events) < 40                                # no storm of opens and resolves
    assert all(e["first_seen"] < "2026-11-23" for e in events)   # 2099 never became "now"
    assert not any(e["first_seen"].startswith("1999") and e["event"] == "resolve"
                   and e["count"] > 1 for e in events)
    assert opens[-1]["first_seen"].startswith("2026-11-22T13:00")   # the jump was accepted


def test_the_summary_counts_doubtful_timestamps(tmp_path: Path) -> None:
    log = tmp_path / "api.log"
    log.write_text("2026-11-20 10:00:00,000 INFO ok\n" + lock("2099-01-01 00:00:00,000")
                   + "2026-11-20 10:00:10,000 INFO ok\n")
    out = io.StringIO()
    replay(load_config(None), ReplayOptions(paths=[str(log)]), out=out, err=io.StringIO())
    assert "1 doubtful timestamp" in out.getvalue()


# -- untimed lines before the first time (issue 11, defect 2) -----------------------------

POSTGRES_BEFORE_ANY_TIME = (
    "ERROR:  deadlock detected\n"
    "DETAIL:  Process 10 waits for ShareLock on transaction 7; blocked by process 11.\n"
    "HINT:  See server log for query details.\n"
    "Traceback (most recent call last):\n"
    '  File "/app/x.py", line 3, in f\n'
    "psycopg2.errors.DeadlockDetected: deadlock detected\n"
    "2026-05-01 10:00:05,000 INFO worker started\n")


def replay_jsonl(path: Path) -> list[dict]:  # type: ignore[type-arg]
    out = io.StringIO()
    replay(load_config(None), ReplayOptions(paths=[str(path)], output="jsonl"), out=out,
           err=io.StringIO())
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_lines_before_the_first_time_take_that_first_time(tmp_path: Path) -> None:
    log = tmp_path / "db.log"
    log.write_text(POSTGRES_BEFORE_ANY_TIME)
    events = replay_jsonl(log)
    assert events
    assert {e["first_seen"] for e in events} == {"2026-05-01T10:00:05Z"}


def test_a_file_without_any_time_is_dated_by_its_modification_time(tmp_path: Path) -> None:
    import os

    log = tmp_path / "db.log"
    log.write_text(lock("").strip() + "\n")
    os.utime(log, (1777629600, 1777629600))             # 2026-05-01T10:00:00Z
    (event,) = replay_jsonl(log)
    assert event["first_seen"] == "2026-05-01T10:00:00Z"


def test_live_untimed_lines_take_their_arrival_time() -> None:
    from detector.decode.events import Origin, Stream, assemble

    buf = b"ERROR:  deadlock detected\n2026-05-01 10:00:05,000 INFO started\n"
    stream = Stream(origin=Origin(source="s", service="s"))
    (event, *_), _ = assemble(buf, [(buf.index(b"\n"), frozenset())], stream, final=True,
                              arrival=1800000000.0)
    assert (event.time, event.timed) == (1800000000.0, False)


# -- absurd timestamps (issue 12, item 1: the dating part) --------------------------------

@pytest.mark.parametrize("line", [
    '{"time": "0001-01-01T00:00:00Z", "level": "error", "service": "go", "msg": "dial tcp: connection refused"}',
    '{"time": "9999-12-31T23:59:59Z", "level": "error", "service": "go", "msg": "dial tcp: connection refused"}',
    '{"@timestamp": 1e308, "level": "error", "service": "go", "msg": "dial tcp: connection refused"}',
    '{"ts": "NaN", "level": "error", "service": "go", "msg": "dial tcp: connection refused"}',
    "0001-01-01 00:00:00,000 ERROR dial tcp: connection refused",
])
def test_an_absurd_timestamp_is_counted_and_read_as_untimed(line: str) -> None:
    from detector.decode.fields import decode_line

    record = decode_line(line.encode())
    assert record.time is None
    if "NaN" not in line:
        assert record.absurd


def test_absurd_timestamps_in_a_replay_take_their_neighbours_time(tmp_path: Path) -> None:
    log = tmp_path / "go.log"
    log.write_text(
        '{"time": "2026-05-01T10:00:00Z", "level": "info", "service": "go", "msg": "up"}\n'
        '{"time": "0001-01-01T00:00:00Z", "level": "error", "service": "go", "msg": '
        '"LockError: Unable to acquire lock on lock:a:1 after 1 seconds"}\n'
        '{"@timestamp": 1e308, "level": "error", "service": "go", "msg": "x"}\n')
    out = io.StringIO()
    replay(load_config(None), ReplayOptions(paths=[str(log)]), out=out, err=io.StringIO())
    assert "absurd timestamps read as untimed" in out.getvalue()
    (event,) = replay_jsonl(log)
    assert event["first_seen"] == "2026-05-01T10:00:00Z"


def test_one_far_future_line_does_not_confirm_its_own_jump(hs_engine) -> None:  # type: ignore[no-untyped-def]
    from detector.build import build_pipeline
    from detector.decode.events import Origin, Stream

    events: list[dict] = []  # type: ignore[type-arg]
    pipeline = build_pipeline(load_config(None), hs_engine, events.append, live=False)
    stream = Stream(origin=Origin.for_path("api.log"))
    pipeline.feed(("".join(f"2026-05-01 10:{m:02d}:00,000 INFO ok\n" for m in range(5))
                   + lock("2026-05-01 10:05:00,000")).encode(), stream, final=True)
    # one line dated 2036, alone at the end of its buffer (as a live line arrives)
    pipeline.feed(lock("2036-05-01 10:06:00,000").encode(), stream, final=True)
    pipeline.feed("".join(f"2026-05-01 10:{m:02d}:00,000 INFO ok\n"
                          for m in range(7, 12)).encode(), stream, final=True)
    pipeline.advance(pipeline.clock.watermark())
    assert pipeline.clock.high is not None and pipeline.clock.high < 1777700000
    assert [e["event"] for e in events] == ["open"]          # nothing resolved by 2036
    assert events[0]["count"] == 1 or events[0]["last_seen"] < "2026-05-02"

"""Bad time in the input is absorbed by the watermark: counted, never a storm."""

from __future__ import annotations

import io
from pathlib import Path

import orjson

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
    assert "1 doubtful timestamps" in out.getvalue()

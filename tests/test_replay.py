"""Replay merges its inputs by event time, like the daemon would have seen them."""

from __future__ import annotations

import io
from pathlib import Path

from detector.config import load_config
from detector.replay.run import ReplayOptions, replay


def run(paths: list[Path], **options: object) -> list[dict]:  # type: ignore[type-arg]
    import orjson

    out = io.StringIO()
    assert replay(load_config(None), ReplayOptions(paths=[str(p) for p in paths], output="jsonl",
                                                   **options), out=out, err=io.StringIO()) == 0  # type: ignore[arg-type]
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def lock(t: str) -> str:
    return f"2026-11-20 {t},000 ERROR LockError: Unable to acquire lock on lock:a:1 after 1 seconds\n"


def info(t: str) -> str:
    return f"2026-11-20 {t},000 INFO ok\n"


def test_each_input_keeps_its_own_time_when_merged(tmp_path: Path) -> None:
    fast = tmp_path / "fast.log"
    fast.write_text("".join(info(f"10:{m:02d}:00") for m in range(60)))
    slow = tmp_path / "slow.log"
    slow.write_text(info("10:05:00") + "Task was destroyed but it is pending!\n" + info("10:06:00"))
    opened, resolved = run([fast, slow])
    assert (opened["service"], opened["class"]) == ("slow", "task_leak")
    assert opened["first_seen"] == "2026-11-20T10:05:00Z"
    assert resolved["event"] == "resolve"    # the others' time moved on: quiet for 10 min


def test_events_come_out_in_event_time_order_across_inputs(tmp_path: Path) -> None:
    a = tmp_path / "a.log"
    a.write_text(lock("10:00:00") + "".join(info(f"10:{m:02d}:00") for m in range(1, 60)))
    b = tmp_path / "b.log"
    b.write_text(info("10:00:00") + lock("10:20:00") + info("10:59:00"))
    events = run([a, b])
    assert [(e["event"], e["service"]) for e in events] == [
        ("open", "a"), ("resolve", "a"), ("open", "b"), ("resolve", "b")]
    assert events[1]["last_seen"] == "2026-11-20T10:00:00Z"


def test_an_incident_open_at_the_end_stays_open(tmp_path: Path) -> None:
    log = tmp_path / "api.log"
    log.write_text(lock("10:00:00") + lock("10:01:00"))
    assert [e["event"] for e in run([log])] == ["open"]


def test_small_chunks_give_the_same_incidents(tmp_path: Path) -> None:
    log = tmp_path / "api.log"
    lines = []
    for m in range(0, 240, 7):
        lines.append(lock(f"{10 + m // 60}:{m % 60:02d}:00"))
        lines.append("Traceback (most recent call last):\n  File \"/app/x.py\", line 1, in f\n"
                     "    g()\nKeyError: 'data'\n")
    log.write_text("".join(lines))
    assert run([log], chunk_size=97) == run([log])

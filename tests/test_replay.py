"""Replay merges its inputs by event time, like the daemon would have seen them."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import orjson

from detector.config import load_config
from detector.replay.run import ReplayOptions, replay


def run(paths: list[Path], **options: object) -> list[dict]:  # type: ignore[type-arg]
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


# -- inputs in any order (issue 11, defect 3) ---------------------------------------------

def day_of_trouble(day: str, service_lines: int = 300) -> str:
    """A day with a lock error every 40 minutes among info lines."""
    lines = []
    for minute in range(0, 24 * 60, 5):
        stamp = f"{day} {minute // 60:02d}:{minute % 60:02d}:00"
        lines.append(f"{stamp},000 INFO ok\n")
        if minute % 40 == 0:
            lines.append(f"{stamp},500 ERROR LockError: Unable to acquire lock on lock:a:1 "
                         "after 1 seconds\n")
    return "".join(lines)


def test_rotated_files_give_the_same_incidents_in_any_order(tmp_path: Path) -> None:
    import gzip

    (tmp_path / "app.log").write_text(day_of_trouble("2026-05-03"))
    (tmp_path / "app.log.1.gz").write_bytes(gzip.compress(day_of_trouble("2026-05-02").encode()))
    (tmp_path / "app.log.2.gz").write_bytes(gzip.compress(day_of_trouble("2026-05-01").encode()))
    names = ["app.log", "app.log.1.gz", "app.log.2.gz"]
    orders = [names, names[::-1], [names[1], names[0], names[2]]]
    results = [run([tmp_path / n for n in order]) for order in orders]
    assert results[0] == results[1] == results[2]
    opened = [e for e in results[0] if e["event"] == "open"]
    assert {e["first_seen"][:10] for e in opened} == {"2026-05-01", "2026-05-02", "2026-05-03"}
    assert len(opened) == 3 * 36


def test_a_stream_that_goes_back_in_time_is_counted_late_not_lost(tmp_path: Path) -> None:
    day = tmp_path / "day.log"
    day.write_text(day_of_trouble("2026-05-01"))
    twice = tmp_path / "twice.log"
    twice.write_text(day.read_text() * 2)
    err = io.StringIO()
    out = io.StringIO()
    assert replay(load_config(None), ReplayOptions(paths=[str(twice)]), out=out, err=err) == 0
    assert "36 late events" in out.getvalue()               # in the totals
    assert "older than the time already replayed" in err.getvalue()


# -- inputs that are not plain files (issue 12, item 10) ----------------------------------

def test_one_bad_gz_is_reported_and_the_rest_replayed(tmp_path: Path) -> None:
    bad = tmp_path / "old.log.gz"
    bad.write_bytes(b"this is not gzip at all\n")
    good = tmp_path / "api.log"
    good.write_text(lock("10:00:00"))
    err, out = io.StringIO(), io.StringIO()
    code = replay(load_config(None), ReplayOptions(paths=[str(bad), str(good)], output="jsonl"),
                  out=out, err=err)
    assert code == 2
    assert "old.log.gz: not a valid gzip file" in err.getvalue()
    assert [orjson.loads(line)["service"] for line in out.getvalue().splitlines()] == ["api"]


def test_a_fifo_and_process_substitution_are_read_as_streams(tmp_path: Path) -> None:
    import os
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    data = lock("10:00:00").encode()

    def writer() -> None:
        with open(fifo, "wb") as target:
            target.write(data)

    thread = threading.Thread(target=writer)
    thread.start()
    events = run([fifo])
    thread.join()
    assert [e["class"] for e in events] == ["lock_timeout"]
    result = subprocess_replay("bash", "-c", f"{sys.executable} -m detector replay "
                               f"--output jsonl <(printf '%s' '{lock('10:00:00').strip()}')")
    assert result.count("\"lock_timeout\"") == 1, result


def subprocess_replay(*argv: str) -> str:
    import os
    import subprocess

    from tests.conftest import ROOT

    proc = subprocess.run(argv, capture_output=True, cwd=ROOT, timeout=120, check=False,
                          env={**os.environ, "DETECTOR_CACHE_DIR": str(ROOT / ".pytest_cache" / "hs")})
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode()


def test_gzip_on_stdin_is_told_by_its_magic() -> None:
    import gzip

    from tests.conftest import run_cli

    result = run_cli("replay", "-", "--output", "jsonl",
                     stdin=gzip.compress(lock("10:00:00").encode()))
    assert result.code == 0, result.err
    assert result.out.count("\"lock_timeout\"") == 1


def test_utf16_input_is_decoded_and_said(tmp_path: Path) -> None:
    for name, encoding in (("bom.log", "utf-16"), ("le.log", "utf-16-le")):
        path = tmp_path / name
        path.write_bytes((lock("10:00:00") + info("10:01:00")).encode(encoding))
        err, out = io.StringIO(), io.StringIO()
        assert replay(load_config(None), ReplayOptions(paths=[str(path)], output="jsonl"),
                      out=out, err=err) == 0
        assert '"lock_timeout"' in out.getvalue(), name
        assert "read as UTF-16" in err.getvalue()


def test_filters_show_only_the_incident_events_asked_for(tmp_path: Path) -> None:
    from detector.model import Severity
    from detector.replay.filters import EventFilter, parse_when

    api = tmp_path / "api.log"
    api.write_text(lock("10:00:00") + lock("11:00:00") + "2026-11-20 11:30:00,000 ERROR "
                   "psycopg2.errors.DeadlockDetected: deadlock detected\n" + info("12:00:00"))
    worker = tmp_path / "worker-sync.log"
    worker.write_text("2026-11-20 10:30:00,000 ERROR redis.exceptions.ConnectionError: "
                      "Error 111 connecting to redis:6379. Connection refused.\n")
    everything = run([api, worker])
    assert {e["class"] for e in everything} == {"lock_timeout", "deadlock", "dependency_down"}
    later = run([api, worker], only=EventFilter(since=parse_when("2026-11-20T10:45:00Z")))
    assert all(e["first_seen"] >= "2026-11-20T10:45" or e["event"] != "open" for e in later)
    assert ("lock_timeout", "open", "2026-11-20T11:00:00Z") in {
        (e["class"], e["event"], e["first_seen"]) for e in later}
    assert {e["class"] for e in run([api, worker], only=EventFilter(
        classes=("deadlock",)))} == {"deadlock"}
    assert {e["service"] for e in run([api, worker], only=EventFilter(
        services=("worker-*",)))} == {"worker-sync"}
    critical = run([api, worker], only=EventFilter(min_severity=Severity.CRITICAL))
    assert {e["severity"] for e in critical} == {"critical"}


def test_a_long_table_groups_the_rest() -> None:
    from detector.replay.output import IncidentTable

    table = IncidentTable()
    for n in range(60):
        table({"event": "open", "id": f"{n:016x}", "kind": "signature",  # type: ignore[typeddict-item]
               "class": "lock_timeout" if n % 2 else "deadlock", "pattern": None,
               "severity": "error", "service": f"svc-{n % 3}", "fingerprint": "f",
               "first_seen": "2026-11-20T10:00:00Z", "last_seen": "2026-11-20T10:00:00Z",
               "count": n + 1, "summary": f"incident {n}", "fields": {}, "samples": [],
               "runbook": None})
    out = io.StringIO()
    table.render(out, colour=False, limit=10)
    text = out.getvalue()
    assert len(text.splitlines()) < 30
    assert "… and 50 more incidents:" in text
    assert "× lock_timeout in svc-" in text


def test_a_named_format_that_does_not_fit_is_said(tmp_path: Path) -> None:
    plain = tmp_path / "plain.log"
    plain.write_text(lock("10:00:00"))
    err = io.StringIO()
    out = io.StringIO()
    replay(load_config(None), ReplayOptions(paths=[str(plain)], output="jsonl", format="json"),
           out=out, err=err)
    assert "1 line was not json (--format json): counted as malformed and read as plain" \
           in err.getvalue()
    assert [orjson.loads(x)["class"] for x in out.getvalue().splitlines()] == ["lock_timeout"]


def test_the_summary_counts_in_words_that_agree_with_the_number(tmp_path: Path) -> None:
    one = tmp_path / "one.log"
    one.write_text(lock("10:00:00"))
    out = io.StringIO()
    assert replay(load_config(None), ReplayOptions(paths=[str(one)]), out=out,
                  err=io.StringIO()) == 0
    summary = out.getvalue().splitlines()[-1]
    assert summary.startswith("1 line · ") and " · 1 incident" in summary

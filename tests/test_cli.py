"""The command line as users run it: exit codes, output, and no tracebacks for mistakes."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

from conftest import run_cli

from detector import __version__

LOCK = "2026-11-20 10:00:0{i},000 ERROR [worker-sync] LockError: Unable to acquire lock on lock:smart_bot:123abc after 10 seconds\n"
DEADLOCK = "2026-11-20 10:05:00,000 ERROR [api] psycopg2.errors.DeadlockDetected: deadlock detected\n"


def events(out: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in out.splitlines() if line]


def test_version() -> None:
    result = run_cli("--version")
    assert (result.code, result.out.strip()) == (0, f"detector {__version__}")


def test_replay_prints_incident_events_as_jsonl(tmp_path: Path) -> None:
    log = tmp_path / "worker-sync.log"
    log.write_text("".join(LOCK.format(i=i) for i in range(5)) + DEADLOCK)
    result = run_cli("replay", str(log), "--output", "jsonl")
    assert result.code == 0, result.err
    got = events(result.out)
    assert [(e["event"], e["class"], e["count"]) for e in got] == [
        ("open", "lock_timeout", 1), ("open", "deadlock", 1)]
    assert got[0]["service"] == "worker-sync"
    assert got[0]["fields"] == {"lock": "lock:smart_bot:123abc", "seconds": "10"}
    assert got[0]["runbook"]["steps"]


def test_replay_text_table_names_class_service_and_count(tmp_path: Path) -> None:
    log = tmp_path / "api.log"
    log.write_text("".join(LOCK.format(i=i) for i in range(5)))
    result = run_cli("replay", str(log))
    assert result.code == 0
    header, row = result.out.splitlines()[:2]
    assert header.split()[:7] == ["STATE", "SEVERITY", "CLASS", "SERVICE", "COUNT", "FIRST", "SEEN"]
    assert row.split()[:5] == ["open", "error", "lock_timeout", "api", "5"]
    assert "Redis lock lock:smart_bot:123abc not acquired" in row
    assert "5 lines" in result.out


def test_replay_reads_gzip_stdin_and_globs(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "a.log.gz", "wt") as f:
        f.write(LOCK.format(i=1))
    (tmp_path / "b.log").write_text(DEADLOCK)
    result = run_cli("replay", str(tmp_path / "*.log*"), "--output", "jsonl")
    assert sorted((e["service"], e["class"]) for e in events(result.out)) == [
        ("a", "lock_timeout"), ("b", "deadlock")]
    piped = run_cli("replay", "-", "--output", "jsonl", "--service", "api",
                    stdin=DEADLOCK.encode())
    assert [(e["service"], e["class"]) for e in events(piped.out)] == [("api", "deadlock")]


def test_bad_input_is_counted_and_the_run_goes_on(tmp_path: Path) -> None:
    log = tmp_path / "messy.log"
    with log.open("wb") as f:
        f.write(b"2026-11-20 10:00:00,000 INFO start\n")
        f.write(b"\xff\xfe\xfd invalid utf-8 ERROR \xc3\x28\n")
        f.write(b"nul \x00\x00 bytes ERROR here\n")
        f.write(b'{"message": "truncated json, "level": "error"\n')
        f.write(b'{"message": 42, "level": ["wrong", "type"], "time": {}}\n')
        f.write(b"\n\n   \n")
        f.write(os.urandom(4096).replace(b"\n", b" ") + b"\n")
        f.write(b"ERROR " + b"x" * (20 << 20) + b"\n")               # a 20 MB line
        f.write(DEADLOCK.encode())
    result = run_cli("replay", str(log), "--output", "jsonl")
    assert result.code == 0, result.err[-2000:]
    assert "Traceback" not in result.err
    assert [e["class"] for e in events(result.out)] == ["deadlock"]


def test_a_missing_input_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("replay", str(tmp_path / "nope.log"))
    assert result.code == 2
    assert result.err.strip() == f"detector: {tmp_path / 'nope.log'}: no such file"


def test_a_bad_config_exits_2_with_file_line_and_no_traceback(tmp_path: Path) -> None:
    config = tmp_path / "detector.toml"
    config.write_text('[detect]\nresolve_after = "10m"\nresolve_afterr = "1m"\n')
    result = run_cli("validate", "-c", str(config))
    assert result.code == 2
    assert result.err.startswith(f"{config}:3: unknown key 'detect.resolve_afterr'")
    assert "Traceback" not in result.err
    config.write_text("[detect\n")
    result = run_cli("replay", "-c", str(config), "-")
    assert result.code == 2 and result.err.startswith(f"{config}:1: invalid TOML")


def test_validate_passes_on_the_shipped_packs() -> None:
    result = run_cli("validate")
    assert result.code == 0, result.err
    assert "examples hold" in result.out


def test_validate_fails_on_a_broken_example(tmp_path: Path) -> None:
    pack = tmp_path / "acme.toml"
    pack.write_text('''[[pattern]]
id = "acme.jam"
class = "jam"
severity = "warning"
title = "Jam"
regex = 'Widget \\w+ jammed'
examples.match = ["Gadget jammed"]
[pattern.runbook]
title = "t"
steps = ["s"]
''')
    config = tmp_path / "detector.toml"
    config.write_text(f'[patterns]\npaths = ["{pack}"]\n')
    result = run_cli("validate", "-c", str(config))
    assert result.code == 2
    assert result.err.strip() == (f"{pack}:7: pattern acme.jam: match example 1 "
                                  "'Gadget jammed' matches nothing")


def test_a_bad_regex_in_a_pack_is_located(tmp_path: Path) -> None:
    pack = tmp_path / "acme.toml"
    pack.write_text('[[pattern]]\nid = "acme.jam"\nclass = "jam"\ntitle = "Jam"\n'
                    "regex = 'Widget (\\w+ jammed'\nexamples.match = [\"x\"]\n"
                    '[pattern.runbook]\ntitle = "t"\nsteps = ["s"]\n')
    config = tmp_path / "detector.toml"
    config.write_text(f'[patterns]\npaths = ["{pack}"]\n')
    result = run_cli("validate", "-c", str(config))
    assert result.code == 2
    assert result.err.startswith(f"{pack}:5: pattern acme.jam: unsupported regex syntax")


def test_patterns_list_and_test() -> None:
    listing = run_cli("patterns", "list")
    assert listing.code == 0
    assert "redis.lock_error" in listing.out and "lock_timeout" in listing.out
    tested = run_cli("patterns", "test",
                     "LockError: Unable to acquire lock on lock:smart_bot:123abc after 10 seconds")
    assert tested.code == 0
    assert tested.out.startswith("class lock_timeout from pattern redis.lock_error ")
    assert "exception type LockError" in tested.out.splitlines()[0]     # the evidence, all of it
    assert "  redis.lock_error  severity=error" in tested.out
    assert "lock = 'lock:smart_bot:123abc'" in tested.out
    nothing = run_cli("patterns", "test", "all good")
    assert (nothing.code, nothing.out.strip()) == (1, "no pattern matches")


def test_usage_errors_exit_2() -> None:
    assert run_cli("replay").code == 2
    assert run_cli("frobnicate").code == 2


def test_engine_regex_gives_the_same_result(tmp_path: Path) -> None:
    log = tmp_path / "api.log"
    log.write_text("".join(LOCK.format(i=i) for i in range(3)) + DEADLOCK)
    a = run_cli("replay", str(log), "--output", "jsonl", "--engine", "hyperscan")
    b = run_cli("replay", str(log), "--output", "jsonl", "--engine", "regex")
    assert a.out == b.out and a.out


def test_format_plain_reads_json_as_text(tmp_path: Path) -> None:
    log = tmp_path / "api.log"
    log.write_text('{"service": "billing", "level": "error", "message": "Error connecting to PostgreSQL at db:5432"}\n')
    as_json = events(run_cli("replay", str(log), "--output", "jsonl").out)
    as_text = events(run_cli("replay", str(log), "--output", "jsonl", "--format", "plain").out)
    assert as_json[0]["service"] == "billing"
    assert as_text[0]["service"] == "api"          # the file name: the line was not decoded


def test_format_json_counts_lines_that_are_not_json(tmp_path: Path) -> None:
    import io

    from detector.config import load_config
    from detector.replay.run import ReplayOptions, replay

    log = tmp_path / "api.log"
    log.write_text('{"level": "error", "message": "MemoryError"}\n'
                   "2026-11-20 10:00:00 ERROR plain MemoryError\n")
    out = io.StringIO()
    replay(load_config(None), ReplayOptions(paths=[str(log)], format="json"), out=out,
           err=io.StringIO())
    assert "1 malformed" in out.getvalue()


def test_replay_filters_reject_a_time_they_cannot_read(tmp_path: Path) -> None:
    log = tmp_path / "api.log"
    log.write_text("x\n")
    result = run_cli("replay", str(log), "--since", "yesterday-ish")
    assert result.code == 2
    assert result.err.startswith("detector: 'yesterday-ish' is not a time")

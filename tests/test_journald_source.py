"""The journald source against real journal files.

``systemd-journal-remote`` (Debian package ``systemd-journal-remote``) turns a stream in
the journal export format into a journal file, and ``journalctl --directory`` reads it,
as the source does. Missing tools fail these tests: they never skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from components import ensure_debian_package

from detector.config.sources import JournaldSourceConfig
from detector.decode.fields import decode_line
from detector.model import ERROR
from detector.sources import build_source
from detector.sources.base import Batch
from detector.sources.journald import JournaldSource, journalctl_command
from detector.telemetry.metrics import Registry

JOURNAL_REMOTE = next((p for p in ("/lib/systemd/systemd-journal-remote",
                                   "/usr/lib/systemd/systemd-journal-remote")
                       if os.path.exists(p)), None) or ensure_debian_package(
    "systemd-journal-remote", "/lib/systemd/systemd-journal-remote")
BOOT = "0123456789abcdef0123456789abcdef"
T0 = 1777629600_000000                      # 2026-05-01T10:00:00Z, µs
_counter = {"n": 0}


def write_entries(directory: Path, entries: list[dict[str, str]]) -> None:
    """Append entries to ``directory``'s journal through systemd-journal-remote."""
    assert JOURNAL_REMOTE is not None, (
        "systemd-journal-remote is needed: apt-get install -y systemd-journal-remote")
    assert shutil.which("journalctl"), "journalctl is needed (Debian package systemd)"
    export = []
    for entry in entries:
        _counter["n"] += 1
        n = _counter["n"]
        fields = {"__REALTIME_TIMESTAMP": str(T0 + n * 1000), "__MONOTONIC_TIMESTAMP": str(n),
                  "_BOOT_ID": BOOT, **entry}
        export.append("".join(f"{k}={v}\n" for k, v in fields.items()) + "\n")
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run([JOURNAL_REMOTE, f"--output={directory / 'remote.journal'}", "-"],
                   input="".join(export).encode(), check=True, capture_output=True)


def entry(unit: str, message: str, priority: int = 6) -> dict[str, str]:
    return {"_SYSTEMD_UNIT": f"{unit}.service", "SYSLOG_IDENTIFIER": unit,
            "PRIORITY": str(priority), "MESSAGE": message}


def config(directory: Path, **keys: object) -> JournaldSourceConfig:
    return JournaldSourceConfig(type="journald", name="journal", format="journald",
                                directory=str(directory), **keys)  # type: ignore[arg-type]


class Collector:
    def __init__(self) -> None:
        self.batches: list[Batch] = []

    async def emit(self, batch: Batch) -> None:
        self.batches.append(batch)

    def messages(self) -> list[str]:
        return [orjson.loads(line)["MESSAGE"] for b in self.batches
                for line in b.data.splitlines()]

    async def wait_for(self, count: int, within: float = 20.0) -> list[str]:
        deadline = time.monotonic() + within
        while len(self.messages()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} entries, got {self.messages()}")
            await asyncio.sleep(0.05)
        return self.messages()


@contextlib.asynccontextmanager
async def running(source: JournaldSource) -> AsyncIterator[Collector]:
    collector = Collector()
    stop = asyncio.Event()
    task = asyncio.create_task(source.run(collector.emit, stop))
    try:
        yield collector
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


def test_the_command_filters_by_unit_or_identifier_after_the_cursor() -> None:
    argv = journalctl_command(JournaldSourceConfig(
        type="journald", name="j", units=("orders", "nginx.service"),
        identifiers=("cron",)), "s=1;i=2")
    assert argv[:2] == ["journalctl", "--output=json"]
    assert "--follow" in argv and "--after-cursor=s=1;i=2" in argv
    assert argv[argv.index("_SYSTEMD_UNIT=orders.service"):] == [
        "_SYSTEMD_UNIT=orders.service", "_SYSTEMD_UNIT=nginx.service", "+",
        "UNIT=orders.service", "UNIT=nginx.service", "+", "SYSLOG_IDENTIFIER=cron"]


async def test_units_and_identifiers_select_entries_read_by_the_journald_format(
        tmp_path: Path) -> None:
    write_entries(tmp_path, [
        entry("orders", "orders up"), entry("billing", "billing up"),
        entry("orders", "psycopg2.errors.DeadlockDetected: deadlock detected", 3),
        {"SYSLOG_IDENTIFIER": "cron", "PRIORITY": "6", "MESSAGE": "cron ran"},
        {"_SYSTEMD_UNIT": "init.scope", "UNIT": "orders.service", "PRIORITY": "3",
         "MESSAGE": "orders.service: Main process exited, code=exited, status=1/FAILURE"}])
    source = JournaldSource(config(tmp_path, units=("orders",), identifiers=("cron",),
                                   start_at="beginning"), Registry())
    async with running(source) as collector:
        got = await collector.wait_for(4)
        await asyncio.sleep(0.3)
    assert collector.messages() == [
        "orders up", "psycopg2.errors.DeadlockDetected: deadlock detected", "cron ran",
        "orders.service: Main process exited, code=exited, status=1/FAILURE"]
    records = [decode_line(line) for b in collector.batches for line in b.data.splitlines()]
    assert [r.service for r in records] == ["orders", "orders", "cron", "orders"]
    assert records[1].level == ERROR and records[1].time == pytest.approx(1777629600.003)
    assert got and source.health.ok


async def test_the_first_start_establishes_its_position_before_reading(tmp_path: Path) -> None:
    write_entries(tmp_path, [entry("orders", f"old {i}") for i in range(3)])
    source = JournaldSource(config(tmp_path, units=("orders",)), Registry())
    async with running(source) as collector:
        await asyncio.wait_for(source.established.wait(), 10)
        saved = source.checkpoint()                 # what the daemon persists at once
        await asyncio.sleep(0.3)
    assert collector.messages() == []               # start_at = end: old entries skipped
    assert saved["cursor"].startswith("s=")
    # a crash now, lines written while down: the next start reads them all
    write_entries(tmp_path, [entry("orders", f"new {i}") for i in range(3)])
    again = JournaldSource(config(tmp_path, units=("orders",)), Registry())
    again.restore(saved)
    async with running(again) as collector:
        assert await collector.wait_for(3) == ["new 0", "new 1", "new 2"]


async def test_an_empty_journal_starts_at_its_beginning(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    source = JournaldSource(config(tmp_path / "empty"), Registry())
    async with running(source):
        await asyncio.wait_for(source.established.wait(), 10)
    assert source.checkpoint() == {"cursor": "beginning"}


async def test_follows_and_a_dead_child_is_restarted_after_the_last_entry(
        tmp_path: Path) -> None:
    write_entries(tmp_path, [entry("orders", "before")])
    source = JournaldSource(config(tmp_path, units=("orders",)), Registry())
    async with running(source) as collector:
        await asyncio.wait_for(source.established.wait(), 10)
        await asyncio.sleep(0.5)
        write_entries(tmp_path, [entry("orders", f"a{i}") for i in range(3)])
        await collector.wait_for(3)
        assert source._process is not None
        source._process.kill()                     # journalctl dies under us
        await asyncio.sleep(0.2)
        write_entries(tmp_path, [entry("orders", f"b{i}") for i in range(3)])
        await collector.wait_for(6)
        await asyncio.sleep(0.5)
    assert collector.messages() == ["a0", "a1", "a2", "b0", "b1", "b2"]
    assert source.restarts == 1


async def test_a_missing_journalctl_is_a_failure_with_its_reason(tmp_path: Path) -> None:
    source = JournaldSource(config(tmp_path, journalctl="/nonexistent/journalctl"), Registry())
    async with running(source):
        await asyncio.sleep(0.3)
    assert not source.health.ok
    assert "journalctl" in source.health.reason


def test_it_is_registered_and_configured(tmp_path: Path) -> None:
    from detector.config import load_config

    path = tmp_path / "detector.toml"
    path.write_text('[[source]]\ntype = "journald"\nunits = ["orders"]\n'
                    'identifiers = ["cron"]\nstart_at = "beginning"\n')
    (source_config,) = load_config(path).sources
    assert isinstance(source_config, JournaldSourceConfig)
    assert (source_config.units, source_config.identifiers, source_config.format) == (
        ("orders",), ("cron",), "journald")
    assert isinstance(build_source(source_config, Registry(), lambda: False), JournaldSource)


# -- kill -9 and restart: nothing lost, nothing repeated ------------------------------

RUNNER = r'''
import asyncio, json, os, sys
sys.path.insert(0, {root!r})
from detector.config.sources import JournaldSourceConfig
from detector.sources.journald import JournaldSource
from detector.telemetry.metrics import Registry

state, out = sys.argv[1], sys.argv[2]
source = JournaldSource(JournaldSourceConfig(type="journald", name="j", format="journald",
                        directory=sys.argv[3], units=("orders",)), Registry())
if os.path.exists(state):
    source.restore(json.load(open(state)))

def persist():
    with open(state + ".tmp", "w") as f:
        json.dump(source.checkpoint(), f)
    os.replace(state + ".tmp", state)

async def emit(batch):
    # as the daemon does: process, make it durable, then commit and persist
    with open(out, "ab") as f:
        f.write(batch.data)
        f.flush()
        os.fsync(f.fileno())
    source.commit(batch.token)
    persist()
    with open(out, "rb") as f:
        lines = sum(1 for _ in f)
    with open(out + ".persisted.tmp", "w") as f:
        f.write(str(lines))
    os.replace(out + ".persisted.tmp", out + ".persisted")

async def main():
    stop = asyncio.Event()
    task = asyncio.create_task(source.run(emit, stop))
    await source.established.wait()
    persist()
    print("ready", flush=True)
    await task

asyncio.run(main())
'''


def start_runner(tmp_path: Path) -> subprocess.Popen[bytes]:
    script = tmp_path / "runner.py"
    script.write_text(RUNNER.format(root=str(Path(__file__).resolve().parents[1])))
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "state.json"),
                             str(tmp_path / "out.jsonl"), str(tmp_path / "journal")],
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:          # log lines first (structlog writes to stdout)
            if line == b"ready\n":
                return proc
        raise AssertionError("the runner ended before it was ready")
    except BaseException:
        proc.kill()
        proc.wait()
        raise


def received(tmp_path: Path) -> list[str]:
    path = tmp_path / "out.jsonl"
    if not path.exists():
        return []
    return [orjson.loads(line)["MESSAGE"] for line in path.read_bytes().splitlines()]


def wait_persisted(tmp_path: Path, count: int, timeout: float = 30.0) -> None:
    """Until the saved position covers the ``count`` lines handed over: a kill -9 between
    the two would repeat them (at least once is the contract; this test wants none)."""
    marker = tmp_path / "out.jsonl.persisted"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker.exists() and int(marker.read_text() or 0) >= count:
            return
        time.sleep(0.05)
    raise AssertionError("the position was never saved")


def wait_received(tmp_path: Path, count: int) -> list[str]:
    deadline = time.monotonic() + 20
    while len(received(tmp_path)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return received(tmp_path)


def children_of(pid: int) -> list[int]:
    found = []
    for entry_name in os.listdir("/proc"):
        if entry_name.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry_name}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry_name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_kill_9_and_restart_lose_and_repeat_nothing(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    write_entries(journal, [entry("orders", "before the first start")])
    expected: list[str] = []
    proc = start_runner(tmp_path)
    try:
        for round_ in range(3):
            batch = [f"round {round_} line {i}" for i in range(5)]
            write_entries(journal, [entry("orders", m) for m in batch])
            expected += batch
            assert wait_received(tmp_path, len(expected)) == expected
            wait_persisted(tmp_path, len(expected))
            child = children_of(proc.pid)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            time.sleep(0.3)
            assert child and all(not alive(pid) for pid in child)   # journalctl: no orphan
            down = [f"round {round_} while down {i}" for i in range(2)]
            write_entries(journal, [entry("orders", m) for m in down])
            expected += down
            proc = start_runner(tmp_path)
            assert wait_received(tmp_path, len(expected)) == expected
        time.sleep(0.5)
        assert received(tmp_path) == expected
    finally:
        proc.kill()
        proc.wait()

"""Faults are part of the spec: a full disk, a read-only state directory, a crash in the first
seconds, a task that dies, a batch that crashes the pipeline. None may freeze the daemon, kill
a task quietly or lose an incident.

The disk faults use a real tmpfs of 2 MiB mounted for the test (the suite runs as root, as CI
does; without the privilege these tests fail rather than skip)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from receivers import Receiver
from test_daemon import LOCK, Daemon, opened, stamp

from detector.config import load_config
from detector.daemon.app import Daemon as InProcessDaemon
from detector.sources.base import Batch
from detector.telemetry.logs import configure as configure_logging


@contextmanager
def tmpfs(where: Path, size: str = "2m") -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                    str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` to the last byte."""
    filler = folder / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (1 << 20, 65536, 4096, 512, 1):
            try:
                while True:
                    os.write(descriptor, b"\0" * chunk)
            except OSError:
                continue
    finally:
        os.close(descriptor)
    return filler


def remount(where: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(where)], check=True)


def health(running: Daemon) -> dict[str, object]:
    answer: dict[str, object] = httpx.get(running.url("/healthz"), timeout=5).json()
    return answer


def wait_until(condition: object, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.time() + timeout
    while not condition():  # type: ignore[operator]
        assert time.time() < deadline, what
        time.sleep(0.1)


def write_locks(log: Path, numbers: range) -> None:
    with log.open("a") as out:
        for n in numbers:
            out.write(LOCK.format(stamp=stamp(), n=n))


def daemon_on(tmp_path: Path, state: Path, hook: str) -> Daemon:
    running = Daemon(tmp_path, hook)
    running.config.write_text(running.config.read_text().replace(
        f'dir = "{tmp_path / "state"}"', f'dir = "{state}"'))
    return running


def test_a_full_disk_pauses_reading_says_so_and_loses_nothing(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk") as disk, Receiver() as hook:
        running = daemon_on(tmp_path, disk / "state", f"{hook.url}/hook")
        log = running.logs / "worker-sync.log"
        log.write_text("")
        running.start()
        try:
            write_locks(log, range(5))
            wait_until(lambda: len(opened(hook)) == 5, what="the first five")
            filler = fill(disk)
            write_locks(log, range(5, 40))
            wait_until(lambda: "outbox" in health(running).get("daemon", {}), what="blocked")
            report = health(running)
            assert report["status"] == "unhealthy"
            reason = report["daemon"]["outbox"]["reason"]  # type: ignore[index]
            assert "state disk nearly full" in reason or "cannot write" in reason
            metrics = httpx.get(running.url("/metrics"), timeout=5).text
            assert "detector_outbox_blocked 1" in metrics
            assert running.process is not None and running.process.poll() is None
            filler.unlink()                                       # space comes back
            wait_until(lambda: len({e["fields"]["lock"] for e in opened(hook)}) == 40,
                       what="everything after the disk had room again")
            wait_until(lambda: health(running)["status"] == "ok", what="healthy again")
        finally:
            running.kill()
        running.start()                                           # and nothing is lost later
        try:
            write_locks(log, range(40, 42))
            wait_until(lambda: len({e["fields"]["lock"] for e in opened(hook)}) == 42)
        finally:
            running.stop()
    locks = [e["fields"]["lock"] for e in opened(hook)]
    assert set(locks) == {f"lock:job:{n}" for n in range(42)}


def test_a_read_only_state_directory_at_start_is_one_clear_line(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk") as disk:
        (disk / "state").mkdir()
        remount(disk, "ro")
        running = daemon_on(tmp_path, disk / "state", "http://127.0.0.1:9/hook")
        done = subprocess.run([sys.executable, "-m", "detector", "run", "-c",
                               str(running.config)], capture_output=True, text=True,
                              env=running.env, timeout=60, check=False)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"state directory {disk / 'state'}: Read-only file system" in done.stderr


def test_a_state_directory_that_refuses_writes_is_shown_then_recovered(
        tmp_path: Path) -> None:
    """The daemon runs without root's power to ignore file modes (capsh drops it), and its
    state directory stops taking files: positions and learned state cannot be saved, which
    /healthz and a metric say, while detection and delivery go on; then it recovers."""
    with Receiver() as hook:
        running = Daemon(tmp_path, f"{hook.url}/hook")
        running.wrapper = ["capsh", "--drop=cap_dac_override,cap_dac_read_search,cap_fowner",
                           "--", "-c"]
        log = running.logs / "worker-sync.log"
        log.write_text("")
        running.start()
        state = tmp_path / "state"
        try:
            state.chmod(0o500)
            write_locks(log, range(10))
            wait_until(lambda: "state" in health(running).get("daemon", {}), what="state")
            assert health(running)["status"] == "unhealthy"
            wait_until(lambda: len({e["fields"]["lock"] for e in opened(hook)}) == 10,
                       what="detection and delivery go on")
            metrics = httpx.get(running.url("/metrics"), timeout=5).text
            assert "detector_state_write_errors_total" in metrics
            state.chmod(0o700)
            wait_until(lambda: health(running)["status"] == "ok", what="healthy again")
        finally:
            state.chmod(0o700)
            assert running.stop() == 0
        logged = [e["event"] for e in running.logged()]
        assert logged.count("state.write_failed") == 1          # once, not every five seconds
        assert "state.write_recovered" in logged


def test_a_kill_in_the_first_second_skips_no_line(tmp_path: Path) -> None:
    """Positions are saved as soon as the sources know them, not after the first five
    seconds: the next start is not a first start (which would begin at the end)."""
    with Receiver() as hook:
        running = Daemon(tmp_path, f"{hook.url}/hook")
        running.config.write_text(running.config.read_text().replace(
            'start_at = "beginning"', 'start_at = "end"'))
        log = running.logs / "worker-sync.log"
        write_locks(log, range(3))                        # before the first start: skipped
        running.start()
        wait_until(lambda: (tmp_path / "state" / "checkpoints.json").exists(), timeout=10,
                   what="positions saved at start")
        running.kill()
        write_locks(log, range(3, 6))                     # while it was down: must be read
        running.start()
        try:
            wait_until(lambda: len(opened(hook)) >= 3, what="the lines written while down")
        finally:
            running.stop()
    assert {e["fields"]["lock"] for e in opened(hook)} == {f"lock:job:{n}" for n in range(3, 6)}


# -- in-process: a task that crashes, a batch that crashes the pipeline -----------------

def in_process(tmp_path: Path) -> InProcessDaemon:
    config = tmp_path / "detector.toml"
    (tmp_path / "logs").mkdir(exist_ok=True)
    config.write_text(f'[state]\ndir = "{tmp_path / "state"}"\n[http]\nlisten = ""\n'
                      f'[[source]]\ntype = "file"\npath = "{tmp_path / "logs"}/*.log"\n'
                      'poll_interval = "50ms"\n')
    return InProcessDaemon(load_config(config))


def test_a_task_that_crashes_stops_the_daemon_with_exit_status_1(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json", sys.stdout)
    daemon = in_process(tmp_path)

    def broken(watermark: float | None = None) -> None:
        raise RuntimeError("a bug in the ticker")

    daemon.pipeline.advance = broken  # type: ignore[method-assign]
    try:
        code = asyncio.run(asyncio.wait_for(daemon.main(), 60))
    finally:
        configure_logging("info", "auto", sys.__stderr__)
    assert code == 1
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()
              if line.startswith("{")]
    crash = next(e for e in logged if e["event"] == "task.crashed")
    assert crash["task"] == "ticker" and "a bug in the ticker" in crash["exception"]
    assert logged[-1]["event"] == "detector.failed"


def test_a_batch_that_crashes_the_pipeline_is_quarantined_and_the_rest_goes_on(
        tmp_path: Path) -> None:
    daemon = in_process(tmp_path)
    source = daemon.sources[0]
    committed: list[object] = []
    source.commit = committed.append  # type: ignore[method-assign]
    real_feed = daemon.feeder.feed

    def feed(batch: Batch) -> list[tuple[object, object]]:
        if b"poison" in batch.data:
            raise ValueError("a bug in the pipeline")
        return real_feed(batch)  # type: ignore[return-value]

    daemon.feeder.feed = feed  # type: ignore[method-assign,assignment]
    origin = daemon.sources[0]
    lines = [b"poison pill line\n", LOCK.format(stamp=stamp(), n=7).encode()]

    async def scenario() -> None:
        processor = asyncio.create_task(daemon._process())
        for number, data in enumerate(lines):
            await daemon.queue.put(Batch(source=origin, stream="s", origin=_origin(),
                                         data=data, arrival=time.time(), token=number,
                                         final=True))
        await asyncio.wait_for(daemon.queue.join(), 10)
        processor.cancel()

    asyncio.run(scenario())
    (kept,) = (tmp_path / "state" / "quarantine").glob("*.log")
    assert kept.read_bytes() == b"poison pill line\n"
    assert oct(kept.stat().st_mode & 0o777) == "0o600"
    assert committed == [0, 1]                  # kept aside, so not read again forever
    assert daemon.spool.empty and daemon.outbox.pending() == 0  # no notifier configured
    assert [i.cls for i in daemon.pipeline.tracker.open.values()] == ["lock_timeout"]
    daemon.outbox.close()


def _origin():  # type: ignore[no-untyped-def]
    from detector.decode.events import Origin

    return Origin(source="test", service="worker-sync")


def test_tmpfs_helpers_need_root() -> None:
    assert os.geteuid() == 0, "the disk-fault tests mount a tmpfs: run the suite as root"
    assert shutil.which("mount") is not None

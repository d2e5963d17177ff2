"""Following files through rotation, truncation and restarts, never losing the place."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from test_sources_contract import Collector, running

from detector.config import FileSourceConfig
from detector.sources.file import FileSource
from detector.telemetry.metrics import Registry


def source(directory: Path, *, start_at: str = "beginning", pattern: str = "*.log",
           **changes: object) -> FileSource:
    config = FileSourceConfig(type="file", name="files", path=str(directory / pattern),
                              start_at=start_at, poll_interval=0.05, **changes)  # type: ignore[arg-type]
    return FileSource(config, Registry())


def append(path: Path, *lines: str) -> None:
    with path.open("a") as handle:
        handle.write("".join(f"{line}\n" for line in lines))


def commit_all(tailer: FileSource, collector: Collector) -> None:
    for batch in collector.batches:
        tailer.commit(batch.token)


async def test_rotation_by_rename_finishes_the_old_file_then_reads_the_new(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, "one", "two")
    tailer = source(tmp_path)
    async with running(tailer) as collector:
        await collector.wait_for(2)
        os.rename(log, tmp_path / "app.log.1")
        append(tmp_path / "app.log.1", "three (written to the old file after the rename)")
        append(log, "four (the new file)")
        got = await collector.wait_for(4)
    assert got == ["one", "two", "three (written to the old file after the rename)",
                   "four (the new file)"]
    assert {b.origin.service for b in collector.batches} == {"app"}


async def test_copytruncate_and_truncation_start_again_at_zero(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, "one", "two")
    tailer = source(tmp_path)
    async with running(tailer) as collector:
        await collector.wait_for(2)
        log.write_text("")                                   # copytruncate
        await asyncio.sleep(0.3)
        append(log, "three")
        got = await collector.wait_for(3)
    assert got == ["one", "two", "three"]


async def test_a_deleted_file_is_read_to_its_end(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, "one")
    tailer = source(tmp_path)
    async with running(tailer) as collector:
        await collector.wait_for(1)
        with log.open("a") as handle:
            handle.write("two\n")
            handle.flush()
            log.unlink()
            handle.write("three\n")
        got = await collector.wait_for(3)
    assert got == ["one", "two", "three"]


async def test_files_appearing_later_are_read_from_their_start(tmp_path: Path) -> None:
    append(tmp_path / "old.log", "history that was already there")
    tailer = source(tmp_path, start_at="end")
    async with running(tailer) as collector:
        await asyncio.sleep(0.3)
        append(tmp_path / "old.log", "new in old")
        append(tmp_path / "new.log", "first line of a new file")
        got = await collector.wait_for(2)
    assert sorted(got) == ["first line of a new file", "new in old"]


async def test_a_file_rotated_while_down_is_finished_first(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, "one", "two")
    first = source(tmp_path)
    async with running(first) as collector:
        await collector.wait_for(2)
        commit_all(first, collector)
        saved = first.checkpoint()
    append(log, "three (written while the detector was down)")
    os.rename(log, tmp_path / "app.log.1")                   # rotated while down
    append(log, "four (the new file)")
    second = source(tmp_path)
    second.restore(saved)
    async with running(second) as collector:
        got = await collector.wait_for(2)
        await asyncio.sleep(0.3)
    assert collector.lines() == ["three (written while the detector was down)",
                                 "four (the new file)"]
    assert got[0].startswith("three")


async def test_a_reused_inode_is_not_mistaken_for_the_old_file(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, "old content of the old file " * 3)
    first = source(tmp_path)
    async with running(first) as collector:
        await collector.wait_for(1)
        commit_all(first, collector)
        saved = first.checkpoint()
    item = saved["files"][0]
    log.write_text("entirely different contents\nsecond\n")      # same inode, new bytes
    item["offset"] = 5
    second = source(tmp_path)
    second.restore(saved)
    async with running(second) as collector:
        got = await collector.wait_for(2)
    assert got == ["entirely different contents", "second"]      # from 0, not from 5


async def test_unfinished_last_lines_wait_then_are_taken(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    with log.open("w") as handle:
        handle.write("complete\npartial without newline")
    tailer = source(tmp_path)
    async with running(tailer) as collector:
        assert await collector.wait_for(1) == ["complete"]
        got = await collector.wait_for(2, within=10)
    assert got == ["complete", "partial without newline"]


async def test_runaway_lines_are_cut_and_counted(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    with log.open("w") as handle:
        handle.write("x" * 3_000_000 + "\nafter\n")
    tailer = source(tmp_path, max_line_bytes=1 << 20)
    async with running(tailer) as collector:
        got = await collector.wait_for(2)
    assert [len(line) for line in got] == [1 << 20, 5]
    assert tailer.skipped_lines == 1


async def test_checkpoints_are_committed_positions_only(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, "one", "two")
    tailer = source(tmp_path)
    async with running(tailer) as collector:
        await collector.wait_for(2)
        assert tailer.checkpoint()["files"][0]["offset"] == 0      # nothing committed yet
        commit_all(tailer, collector)
        assert tailer.checkpoint()["files"][0]["offset"] == log.stat().st_size


async def test_a_missing_directory_is_not_an_error_and_a_file_there_is_found(
        tmp_path: Path) -> None:
    tailer = source(tmp_path / "later", start_at="beginning")
    async with running(tailer) as collector:
        await asyncio.sleep(0.3)
        assert tailer.health.reason == "waiting: no file matches"    # said, not an error
        assert not tailer._logged                                   # nothing failed
        (tmp_path / "later").mkdir()
        append(tmp_path / "later" / "app.log", "hello")
        assert await collector.wait_for(1) == ["hello"]
        assert tailer.health.ok


def scan_as(uid: int | None, pattern: str) -> tuple[bool, str]:
    """One scan of a file source, as another user when ``uid`` is given (in a fork)."""
    config = FileSourceConfig(type="file", name="files", path=pattern, start_at="beginning")
    if uid is None:
        tailer = FileSource(config, Registry())
        tailer._scan()
        return tailer.health.ok, tailer.health.reason
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:                                          # the child: drop root, scan, report
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            tailer = FileSource(config, Registry())
            tailer._scan()
            os.write(write_end, f"{tailer.health.ok}|{tailer.health.reason}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as answer:
        ok, reason = answer.read().decode().split("|")
    os.waitpid(pid, 0)
    return ok == "True", reason


def test_a_directory_it_may_not_list_is_reported_not_silently_empty() -> None:
    """glob() returns nothing for a directory it cannot read; the source says why."""
    import shutil
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="detector-perm-"))      # reachable by everyone
    try:
        top.chmod(0o755)
        secret, public = top / "secret", top / "public"
        for directory in (secret, public):
            directory.mkdir(mode=0o755)
            append(directory / "app.log", "a line")
        secret.chmod(0o700)
        # root may read anything: scan as an unprivileged user (nobody), as systemd runs us.
        uid = 65534 if os.geteuid() == 0 else None
        assert scan_as(uid, str(public / "*.log")) == (True, "")
        ok, reason = scan_as(uid, str(secret / "*.log"))
        assert not ok
        assert reason == f"permission: {secret}: cannot list it (Permission denied)"
    finally:
        shutil.rmtree(top)


def test_the_directory_a_glob_starts_from() -> None:
    from detector.sources.file import static_directory

    assert static_directory("/var/log/app/*.log") == "/var/log/app"
    assert static_directory("/var/log/*/app.log") == "/var/log"
    assert static_directory("/srv/**/[ab]*.log") == "/srv"
    assert static_directory("app.log") == "."
    assert static_directory("/app.log") == "/"


# -- a glob that matches nothing is said (issue 11, defect 5) -----------------------------

async def test_a_glob_matching_nothing_is_waiting_and_counted(tmp_path: Path) -> None:
    registry = Registry()
    config = FileSourceConfig(type="file", name="typo", path=str(tmp_path / "*.lgo"),
                              poll_interval=0.05)
    tailer = FileSource(config, registry)
    async with running(tailer) as collector:
        await asyncio.sleep(0.3)
        assert (tailer.health.ok, tailer.health.reason) == (False, "waiting: no file matches")
        assert 'detector_source_files{source="typo"} 0' in registry.render()
        append(tmp_path / "app.lgo", "one")
        await collector.wait_for(1)
        assert tailer.health.ok
        assert 'detector_source_files{source="typo"} 1' in registry.render()


def test_validate_can_warn_about_a_glob_matching_nothing(tmp_path: Path) -> None:
    from detector.config import load_config
    from detector.sources.file import no_match_warnings

    (tmp_path / "app.log").touch()
    path = tmp_path / "detector.toml"
    path.write_text(f'[[source]]\ntype = "file"\npath = "{tmp_path}/*.log"\n\n'
                    f'[[source]]\ntype = "file"\nname = "typo"\npath = "{tmp_path}/*.lgo"\n')
    (warning,) = no_match_warnings(load_config(path))
    assert warning.startswith(f"{path}:5: source 'typo': no file matches")


# -- positions at start (issue 12, item 9) ------------------------------------------------

async def test_positions_are_established_before_anything_is_read(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, "history")
    tailer = source(tmp_path, start_at="end")
    async with running(tailer):
        await asyncio.wait_for(tailer.established.wait(), 5)
        saved = tailer.checkpoint()              # the daemon persists this at once
    (item,) = saved["files"]
    assert item["offset"] == log.stat().st_size
    append(log, "written while the detector was down")      # after a kill -9
    again = source(tmp_path, start_at="end")
    again.restore(saved)
    async with running(again) as collector:
        assert await collector.wait_for(1) == ["written while the detector was down"]


# -- truncation seen by the first KiB (issue 12, item 10) ---------------------------------

async def test_a_file_truncated_and_rewritten_past_the_offset_is_read_from_zero(
        tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, "old one", "old two")
    tailer = FileSource(FileSourceConfig(type="file", name="files", path=str(tmp_path / "*.log"),
                                         start_at="beginning", poll_interval=1.0), Registry())
    async with running(tailer) as collector:
        await collector.wait_for(2)
        await asyncio.sleep(0.1)
        with log.open("r+") as handle:       # copytruncate, and more written than before,
            handle.truncate(0)               # all before the source looks again
            handle.write("new first line, longer than what was there\nnew second\n")
        got = await collector.wait_for(4)
    assert got == ["old one", "old two", "new first line, longer than what was there",
                   "new second"]


# -- thousands of files (issue 12, item 7) ------------------------------------------------

def test_the_soft_open_file_limit_is_raised_to_the_hard_limit() -> None:
    import resource

    from detector.sources.file import raise_open_file_limit

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
    try:
        assert raise_open_file_limit() == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_many_files_are_read_with_a_bounded_set_open(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import detector.sources.file as file_module

    monkeypatch.setattr(file_module, "FULL_IDLE", 0.0)
    for index in range(300):
        append(tmp_path / f"f{index:03d}.log", f"line of file {index}")
    tailer = source(tmp_path)
    tailer.max_open = 20
    most_open = 0
    async with running(tailer) as collector:
        deadline = asyncio.get_running_loop().time() + 60
        while len(collector.lines()) < 300:
            assert asyncio.get_running_loop().time() < deadline, len(collector.lines())
            most_open = max(most_open, len(tailer.files))
            commit_all(tailer, collector)
            await asyncio.sleep(0.01)
        commit_all(tailer, collector)
        assert sorted(collector.lines()) == sorted(f"line of file {i}" for i in range(300))
        await asyncio.sleep(0.3)
        append(tmp_path / "f007.log", "a second line, long after")   # parked: reopened
        await collector.wait_for(301)
        assert tailer.matched == 300
        saved = tailer.checkpoint()
    assert most_open <= 20
    assert len(saved["files"]) == 300
    assert collector.lines()[-1] == "a second line, long after"

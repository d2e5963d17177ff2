"""The state directory: private, versioned, never a crash loop, and upgraded from 0.1.0."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import orjson
import pytest

from detector.config import load_config
from detector.daemon.app import Daemon
from detector.daemon.state import StateDir
from detector.errors import StateError

FIXTURE = Path(__file__).parent / "fixtures" / "state-0.1.0"   # written by detector 0.1.0


def daemon_over(state: Path, tmp: Path) -> Daemon:
    config = tmp / "detector.toml"
    config.write_text(f'[state]\ndir = "{state}"\n[http]\nlisten = ""\n'
                      f'[[source]]\ntype = "file"\npath = "{tmp}/*.log"\n')
    return Daemon(load_config(config))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_directory_is_private_and_files_are_written_whole(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    state.write_json("a.json", {"version": 1})
    assert mode(tmp_path / "state") == 0o700
    assert mode(tmp_path / "state" / "a.json") == 0o600
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["a.json"]   # no temporaries


def test_an_existing_world_readable_directory_is_tightened(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir(mode=0o755)
    StateDir(tmp_path / "state")
    assert mode(tmp_path / "state") == 0o700


def test_a_corrupt_file_is_set_aside_and_that_part_starts_afresh(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    (tmp_path / "incidents.json").write_bytes(b'{"version": 1, "incid')
    restored: list[object] = []
    assert state.load("incidents.json", restored.append) is False
    assert restored == []
    (aside,) = tmp_path.glob("incidents.json.corrupt-*")
    assert aside.read_bytes() == b'{"version": 1, "incid'


def test_a_file_of_an_unknown_version_is_set_aside(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.write_json("rates.json", {"version": 99})

    def restore(data: object) -> None:
        raise StateError("unknown snapshot version 99")

    assert state.load("rates.json", restore) is False
    assert not (tmp_path / "rates.json").exists()
    assert list(tmp_path.glob("rates.json.corrupt-*"))


def test_a_daemon_starts_over_broken_state_files(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "incidents.json").write_text("[1, 2")
    (state / "rates.json").write_text('{"version": 1, "keys": "nonsense"}')
    (state / "novelty.json").write_text("[]")
    (state / "checkpoints.json").write_text('"what"')
    daemon = daemon_over(state, tmp_path)
    assert daemon.pipeline.tracker.open == {}
    assert len(list(state.glob("*.corrupt-*"))) == 4
    daemon.outbox.close()


def test_an_upgrade_from_0_1_0_keeps_what_was_learned_and_drops_raw_text(
        tmp_path: Path) -> None:
    state = tmp_path / "state"
    shutil.copytree(FIXTURE, state, ignore=shutil.ignore_patterns("*.txt"))
    assert b"hunter2secret" in (state / "rates.pickle").read_bytes()   # 0.1.0 kept raw lines

    daemon = daemon_over(state, tmp_path)
    rates, novelty = daemon.pipeline.detectors[:2]       # then the status page's activity
    assert len(daemon.pipeline.tracker.open) == 8
    lock = rates.snapshot()["keys"][0]
    assert (lock["class"], lock["learned"]) == ("lock_timeout", 107)
    assert lock["moments"][0] == pytest.approx(2.128465809781619)
    assert lock["spike"] is not None and lock["spike"]["peak"] == 40
    assert novelty.snapshot()["services"]["worker-sync"]["templates"]
    assert not (state / "rates.pickle").exists()
    saved = (state / "rates.json").read_bytes()
    assert orjson.loads(saved)["version"] == 1
    assert b"hunter2secret" not in saved

    daemon.persist()
    for name in ("checkpoints.json", "incidents.json", "rates.json", "novelty.json"):
        data = orjson.loads((state / name).read_bytes())
        assert data["version"] >= 1, name
        assert mode(state / name) == 0o600
        assert b"hunter2secret" not in (state / name).read_bytes()
    daemon.outbox.close()

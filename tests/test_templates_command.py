"""``detector templates PATH...``: shapes with counts, levels and examples; ``--assign``."""

from __future__ import annotations

import gzip
import io
import json
import sys
from pathlib import Path

from conftest import run_cli

from detector.commands.templates import templates_command

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import templates as bench

LOG = ("2026-11-20 10:00:01,000 ERROR [api] cache stale for user 1\n"
       "2026-11-20 10:00:02,000 ERROR [api] cache stale for user 2\n"
       '{"message": "payment refused for card 4", "level": "warning", "service": "api"}\n'
       "\n"
       "Nov 20 10:00:03 web1 app[12]: cache stale for user 3\n"
       "2026-11-20 10:00:04,000 INFO [api] worker started\n")


def run(*paths: str, **options: object) -> str:
    out = io.StringIO()
    assert templates_command(list(paths), out=out, **options) == 0  # type: ignore[arg-type]
    return out.getvalue()


def test_shapes_most_frequent_first_with_levels_and_an_example(tmp_path: Path) -> None:
    log = tmp_path / "api.log"
    log.write_text(LOG)
    shapes = [json.loads(line) for line in run(str(log), output="jsonl").splitlines()]
    assert [(s["template"], s["count"]) for s in shapes] == [
        ("cache stale for user <NUM>", 3), ("payment refused for card <NUM>", 1),
        ("worker started", 1)]
    assert shapes[0]["levels"] == {"error": 2, "none": 1}
    assert shapes[0]["example"] == "cache stale for user 1"
    assert shapes[1]["levels"] == {"warning": 1}
    text = run(str(log))
    assert text.splitlines()[0].split()[0] == "3"
    assert "cache stale for user <NUM>" in text and text.rstrip().endswith(
        "6 lines, 3 templates")


def test_assign_prints_one_line_per_input_line_in_order(tmp_path: Path) -> None:
    log = tmp_path / "api.log.gz"
    log.write_bytes(gzip.compress(LOG.encode()))
    rows = [json.loads(line) for line in run(str(log), assign=True).splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 3, 4, 5, 6]
    ids = [r["template"] for r in rows]
    assert ids[0] == ids[1] == ids[4] and ids[3] is None
    assert len({ids[0], ids[2], ids[5]}) == 3


def test_globs_several_files_and_stdin_through_the_cli(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text(LOG)
    (tmp_path / "b.log").write_text("2026-11-20 10:00:09,000 ERROR disk 7 is full\n")
    result = run_cli("templates", str(tmp_path / "*.log"), "--output", "jsonl")
    assert result.code == 0, result.err
    assert len(result.out.splitlines()) == 4
    piped = run_cli("templates", "-", "--assign", stdin=b"boom 1\nboom 2\n")
    rows = [json.loads(line) for line in piped.out.splitlines()]
    assert piped.code == 0 and rows[0]["template"] == rows[1]["template"]


def test_a_missing_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_cli("templates", str(tmp_path / "nope.log"))
    assert result.code == 2 and "no such file" in result.err and "Traceback" not in result.err


def test_assign_scores_the_miner_from_outside(tmp_path: Path) -> None:
    data_dir = bench.default_data_dir()
    assert data_dir is not None, "Loghub-2k not found beside the repository (shared/data)"
    dataset = bench.load(data_dir, "Zookeeper")
    log = tmp_path / "zookeeper.log"
    log.write_text("".join(m + "\n" for m in dataset.messages))
    rows = [json.loads(line) for line in run(str(log), assign=True).splitlines()]
    assert bench.grouping_accuracy(dataset.truth, [r["template"] for r in rows]) >= 0.95

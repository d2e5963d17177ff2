"""The matching engine: both prefilters give the same incidents; runaways are contained."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from detector.config import load_config
from detector.match.engine import build_engine
from detector.match.packs import load_packs
from detector.replay.run import ReplayOptions, replay

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import corpus


def replay_jsonl(path: Path, engine: str) -> str:
    out = io.StringIO()
    code = replay(load_config(None), ReplayOptions(paths=[str(path)], output="jsonl",
                                                   engine=engine), out=out, err=io.StringIO())
    assert code == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "mixed.log"
    corpus.generate(path, 30_000, seed=11, span=6 * 3600.0)
    return path


def test_hyperscan_and_regex_engines_give_identical_incidents(generated: Path) -> None:
    with_hyperscan = replay_jsonl(generated, "hyperscan")
    with_regex = replay_jsonl(generated, "regex")
    assert with_hyperscan.count("\n") > 50          # the corpus really has trouble in it
    assert with_hyperscan == with_regex


def test_examples_classify_identically(hs_engine, regex_engine) -> None:  # type: ignore[no-untyped-def]
    for pattern in hs_engine.patterns:
        for example in pattern.examples_match + pattern.examples_no_match:
            a = hs_engine.classify_text(example)
            b = regex_engine.classify_text(example)
            assert (a and (a.pattern.id, a.fields)) == (b and (b.pattern.id, b.fields)), example


def test_the_prefilter_only_hands_over_candidate_lines(hs_engine) -> None:  # type: ignore[no-untyped-def]
    buf = (b"2026-11-20 10:00:00 INFO all good\n"
           b"2026-11-20 10:00:01 INFO Lock released\n"
           b"2026-11-20 10:00:02 ERROR LockError: Unable to acquire lock on lock:x:1 after 3 seconds\n"
           b"2026-11-20 10:00:03 INFO still good\n")
    hits = hs_engine.scan(buf)
    ends = [end for end, _ in hits]
    assert ends == [buf.index(b"seconds\n") + len(b"seconds")]


RUNAWAY = '''
[[pattern]]
id = "test.runaway"
class = "runaway"
severity = "warning"
title = "Catastrophic"
regex = '(a|aa)+$'
priority = 200
examples.match = ["aaaa"]
[pattern.runbook]
title = "x"
steps = ["y"]

[[pattern]]
id = "test.fine"
class = "fine"
severity = "warning"
title = "Fine"
regex = 'aaa'
examples.match = ["aaa"]
[pattern.runbook]
title = "x"
steps = ["y"]
'''


@pytest.mark.parametrize("engine", ["hyperscan", "regex"])
def test_a_runaway_pattern_is_counted_and_skipped(tmp_path: Path, engine: str) -> None:
    pack = tmp_path / "runaway.toml"
    pack.write_text(RUNAWAY)
    built = build_engine(load_packs([pack]), engine=engine, regex_timeout=0.05)
    evil = "a" * 40 + "!"
    found = built.classify_text(evil)
    assert built.timeouts == 1
    assert found is not None and found.pattern.id == "test.fine"   # the pipeline went on
    assert built.classify_text("aaaa") is not None


BACKTRACKING = '''
[[pattern]]
id = "test.nested"
class = "nested"
severity = "warning"
title = "Nested quantifiers"
regex = '(?:[a-z_]\\w*\\.)*[A-Z]\\w*(?:Error|Exception)'
examples.match = ["app.errors.PaymentError"]
[pattern.runbook]
title = "x"
steps = ["y"]
'''


def test_the_regex_prefilter_is_bounded_by_the_timeout_too(tmp_path: Path) -> None:
    """Without hyperscan, the prefilter runs the translated expressions itself: a hostile
    40 kB line must cost the timeout, not minutes (it stays a candidate: a superset)."""
    pack = tmp_path / "nested.toml"
    pack.write_text(BACKTRACKING)
    built = build_engine(load_packs([pack]), engine="regex", regex_timeout=0.05)
    hostile = "a." * 10_000 + "Error"
    hits = built.scan((hostile + "\n").encode())
    assert built.prefilter.timeouts >= 1  # type: ignore[attr-defined]
    assert hits and hits[0][0] == len(hostile)
    assert built.classify_text(hostile) is None            # confirmed: stopped, counted
    assert built.timeouts >= 1


def test_validate_warns_about_a_pattern_that_backtracks(tmp_path: Path) -> None:
    from conftest import run_cli

    pack = tmp_path / "nested.toml"
    pack.write_text(BACKTRACKING)
    config = tmp_path / "detector.toml"
    config.write_text(f'[patterns]\npaths = ["{pack}"]\nshipped = false\n')
    result = run_cli("validate", "-c", str(config))
    assert result.code == 0, result.err
    assert "pattern test.nested: its regex ran past 0.1s on a hostile line" in result.err
    shipped = run_cli("validate")
    assert "warning" not in shipped.err                 # the shipped packs are all sound

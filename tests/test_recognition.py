"""Recognition on the real corpus holds its ground: a pack change that loses real failures fails.

The corpus (tests/corpus/) is what people posted in public issue trackers and Q&A pages,
verbatim with their URLs, real negatives, and the failures of the five seed guides; the
bench (`python bench/recognition.py`) prints the full table. The floors below sit a little
under what the shipped packs reach, so that a regression fails while a new case that is
honestly missed does not have to be hidden.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import recognition


@pytest.fixture(scope="module")
def outcomes() -> list[recognition.Outcome]:
    return recognition.run_all(recognition.load_cases())


def test_real_excerpts_get_their_class(outcomes: list[recognition.Outcome]) -> None:
    positives = [o for o in outcomes if o.case.kind == "positive"]
    _, recalls = recognition.class_table(positives)
    assert len(positives) >= 450
    assert recalls.pop("overall") >= 0.95
    weakest = min(recalls, key=recalls.__getitem__)
    assert recalls[weakest] >= 0.85, weakest


def test_real_logs_without_a_failure_open_nothing(outcomes: list[recognition.Outcome]) -> None:
    negatives = [o for o in outcomes if o.case.kind == "negative"]
    assert len(negatives) >= 100
    opened = [(o.case.url, o.classes) for o in negatives if o.classes]
    assert opened == []


def test_the_seed_guides_failures_are_recognised(outcomes: list[recognition.Outcome]) -> None:
    seeds = [o for o in outcomes if o.case.kind == "seed"]
    verdicts = Counter(o.verdict for o in seeds)
    assert verdicts["right"] / len(seeds) >= 0.97, verdicts
    _, failures, recognised = recognition.seed_table(seeds)
    assert recognised == failures         # each failure they describe, in some wording

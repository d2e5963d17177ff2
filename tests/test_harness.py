"""The detection harness runs, and the detector keeps its promises on it (quick mode)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench" / "detection"))

import harness


def test_quick_harness_scores() -> None:
    outcomes = {o.family.split()[0]: o for o in harness.families(quick=True)}
    assert set(outcomes) == {"steady", "diurnal", "weekly", "slow", "bursts", "ramps",
                             "sustained", "single", "deploy", "many"}
    for family in ("steady", "diurnal", "weekly", "slow", "single", "many"):
        assert outcomes[family].score()["false_alarms"] == 0, family
    bursts = outcomes["bursts"]
    big = bursts.subset(lambda b: b.multiplier >= 10 and b.baseline >= 1.0
                        and b.end - b.start >= 180).score()
    assert big["caught"] == big["bursts"] > 0
    assert big["caught_2min"] >= 0.9 * big["bursts"]
    steps = outcomes["sustained"].score()
    assert steps["caught"] == steps["bursts"] > 0
    assert steps["caught_in_time"] >= 0.8 * steps["bursts"]
    deploys = outcomes["deploy"].score()
    assert deploys["caught"] <= 0.15 * deploys["bursts"]       # blips are not incidents
    report = harness.burst_breakdown(bursts)
    assert len(report) == 16 and report[0].startswith("| 3× | 1 min |")
    assert len(harness.targets(list(outcomes.values()))) >= 8

"""Evaluation of the rate detector on labelled, generated scenarios.

Each family feeds the real ``RateDetector`` (default ``[detect]`` settings)
Poisson counts per 10-second bucket, with known truth: when bursts start and
end. Reported per family: bursts, how many were caught (a spike opened while the
burst lasted, or within 2 minutes after its start for short ones), the detection
delay, and false alarms (spikes opened outside any burst) per service-day.

    python bench/detection/harness.py            # writes bench/out/detection.md
    python bench/detection/harness.py --quick --set rate_sensitivity=1e-5   # try a knob

Families: steady Poisson rates from 0.1 to 100/min; diurnal waves; slow ramps (5×
over 6 hours); bursts of 3×–100× lasting 1–30 minutes on 0.1–10/min baselines;
single stray events after long silence; deploy-time blips (2 minutes at 3×);
many sparse services (0.05/min).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from detector.config import DetectConfig  # noqa: E402
from detector.detect.rates import RateDetector  # noqa: E402
from detector.incidents import IncidentTracker  # noqa: E402
from detector.model import IncidentEvent  # noqa: E402

DAY = 86400.0
BUCKET = 10.0
START = 1795132800.0                     # 2026-11-20T00:00:00Z
CLS = "lock_timeout"


@dataclass
class Burst:
    service: str
    start: float
    end: float
    multiplier: float
    baseline: float                      # events per minute before it


@dataclass
class Outcome:
    family: str
    service_days: float = 0.0
    bursts: list[Burst] = field(default_factory=list)
    opens: list[tuple[str, float]] = field(default_factory=list)   # (service, time)

    def score(self, caught_within: float = 120.0) -> dict[str, Any]:
        matched: set[int] = set()
        delays: list[float] = []
        caught = caught_fast = 0
        for burst in self.bursts:
            hits = [i for i, (service, t) in enumerate(self.opens)
                    if service == burst.service and burst.start <= t <= burst.end + 120]
            if hits:
                caught += 1
                delay = self.opens[hits[0]][1] - burst.start
                delays.append(delay)
                caught_fast += delay <= caught_within
                matched.update(hits)
        false = len(self.opens) - len(matched)
        return {"family": self.family, "bursts": len(self.bursts), "caught": caught,
                "caught_2min": caught_fast,
                "median_delay": statistics.median(delays) if delays else math.nan,
                "max_delay": max(delays) if delays else math.nan,
                "false_alarms": false,
                "false_per_service_day": false / self.service_days if self.service_days else 0.0,
                "service_days": self.service_days}


CONFIG = DetectConfig()


def simulate(family: str, services: dict[str, Callable[[np.ndarray], np.ndarray]], days: float,
             bursts: list[Burst], seed: int) -> Outcome:
    """Run the detector over ``services``: name → rate-per-minute function of time."""
    rng = np.random.default_rng(seed)
    config = CONFIG
    tracker = IncidentTracker(resolve_after=config.resolve_after,
                              update_interval=config.update_interval)
    outcome = Outcome(family, service_days=days * len(services), bursts=bursts)

    def emit(events: list[IncidentEvent]) -> None:
        for event in events:
            if event["event"] == "open" and event["kind"] == "rate_spike":
                outcome.opens.append((event["service"], _parse(event["first_seen"])))

    detector = RateDetector(config)
    buckets = int(days * DAY / BUCKET)
    times = START + np.arange(buckets) * BUCKET
    counts = {}
    for name, rate in services.items():
        expected = np.clip(rate(times), 0.0, None) * BUCKET / 60.0
        counts[name] = rng.poisson(expected)
        detector.seen(name, START)
    step = int(60 / BUCKET)                 # advance the watermark once a minute
    for first in range(0, buckets, step):
        for name, series in counts.items():
            chunk = series[first:first + step]
            for offset in np.nonzero(chunk)[0]:
                t = float(times[first + offset]) + 1.0
                detector.count(name, CLS, t, int(chunk[offset]))
        watermark = float(times[min(first + step, buckets - 1)]) - config.lateness
        for finding in detector.advance(watermark):
            emit(tracker.apply(finding))
        tracker.tick(watermark)
    return outcome


def _parse(stamp: str) -> float:
    from detector.decode.timestamps import parse_iso

    return parse_iso(stamp) or 0.0


def constant(rate: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda t: np.full_like(t, rate)


def with_bursts(base: Callable[[np.ndarray], np.ndarray], bursts: list[Burst],
                service: str) -> Callable[[np.ndarray], np.ndarray]:
    def rate(t: np.ndarray) -> np.ndarray:
        value = base(t).copy()
        for burst in bursts:
            if burst.service == service:
                inside = (t >= burst.start) & (t < burst.end)
                value[inside] = burst.baseline * burst.multiplier
        return value
    return rate


def families(quick: bool) -> list[Outcome]:
    rng = np.random.default_rng(7)
    days = 2.0 if quick else 7.0
    results = []

    steady = {f"steady-{r}": constant(r) for r in (0.1, 0.5, 1.0, 5.0, 20.0, 100.0)}
    results.append(simulate("steady Poisson 0.1–100/min", steady, days, [], seed=1))

    def wave(r: float) -> Callable[[np.ndarray], np.ndarray]:
        return lambda t: r * (1 + 0.8 * np.sin(2 * np.pi * (t - START) / DAY))

    diurnal = {f"diurnal-{r}": wave(r) for r in (1.0, 10.0, 50.0)}
    results.append(simulate("diurnal waves (±80%)", diurnal, days, [], seed=2))

    def ramp(r: float) -> Callable[[np.ndarray], np.ndarray]:
        begin, length = START + DAY, 6 * 3600.0
        return lambda t: r * (1 + 4 * np.clip((t - begin) / length, 0, 1))

    ramps = {f"ramp-{r}": ramp(r) for r in (1.0, 10.0, 50.0)}
    results.append(simulate("slow ramps (5× over 6 h)", ramps, days, [], seed=3))

    burst_days = 3.0 if quick else 6.0
    bursts: list[Burst] = []
    services: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    for base in (0.1, 1.0, 10.0):
        for multiplier in (3, 10, 30, 100):
            for minutes in (1, 3, 10, 30):
                name = f"burst-{base}-{multiplier}x-{minutes}m"
                mine = []
                for day in range(1, int(burst_days)):
                    start = START + day * DAY + float(rng.uniform(2 * 3600, DAY - 4 * 3600))
                    mine.append(Burst(name, start, start + minutes * 60, multiplier, base))
                bursts.extend(mine)
                services[name] = with_bursts(constant(base), mine, name)
    results.append(simulate("bursts 3–100× for 1–30 min", services, burst_days, bursts, seed=4))

    def stray(t: np.ndarray) -> np.ndarray:
        value = np.zeros_like(t)
        value[((t - START) % (12 * 3600)) < BUCKET] = 6.0    # one event in one bucket
        return value

    results.append(simulate("single events after silence", {f"stray-{i}": stray for i in range(5)},
                            days, [], seed=5))

    blips = []
    blip_services = {}
    for i in range(5):
        name = f"deploy-{i}"
        mine = [Burst(name, START + h * 3600.0, START + h * 3600.0 + 120, 3, 5.0)
                for h in range(4, int(days * 24), 4)]
        blips.extend(mine)
        blip_services[name] = with_bursts(constant(5.0), mine, name)
    blip = simulate("deploy blips (2 min at 3×)", blip_services, days, blips, seed=6)
    results.append(blip)

    sparse = {f"sparse-{i}": constant(0.05) for i in range(100 if quick else 200)}
    results.append(simulate("many sparse services (0.05/min)", sparse, 1.0 if quick else 2.0,
                            [], seed=8))
    return results


def burst_breakdown(outcome: Outcome) -> list[str]:
    """Bursts by (multiplier, duration): what the targets are about."""
    rows = []
    for multiplier in (3, 10, 30, 100):
        for minutes in (1, 3, 10, 30):
            sub = Outcome(outcome.family, bursts=[b for b in outcome.bursts
                                                  if b.multiplier == multiplier
                                                  and round((b.end - b.start) / 60) == minutes],
                          opens=outcome.opens)
            score = sub.score()
            by_base = {}
            for base in (0.1, 1.0, 10.0):
                part = Outcome("", bursts=[b for b in sub.bursts if b.baseline == base],
                               opens=outcome.opens).score()
                by_base[base] = f"{part['caught_2min']}/{part['bursts']}"
            rows.append(f"| {multiplier}× | {minutes} min | {score['caught']}/{score['bursts']} | "
                        f"{by_base[0.1]} | {by_base[1.0]} | {by_base[10.0]} | "
                        f"{_seconds(score['median_delay'])} |")
    return rows


def _seconds(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.0f} s"


def main() -> None:
    global CONFIG
    quick = "--quick" in sys.argv
    overrides: dict[str, Any] = {}
    for index, argument in enumerate(sys.argv):
        if argument == "--set":
            name, value = sys.argv[index + 1].split("=", 1)
            overrides[name] = type(getattr(CONFIG, name))(float(value))
    CONFIG = dataclasses.replace(CONFIG, **overrides)
    started = time.time()
    outcomes = families(quick)
    lines = ["| family | bursts | caught | within 2 min | median delay | max delay | "
             "false alarms | per service-day | per service-week |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for outcome in outcomes:
        s = outcome.score()
        lines.append(f"| {s['family']} | {s['bursts']} | {s['caught']} | {s['caught_2min']} | "
                     f"{_seconds(s['median_delay'])} | {_seconds(s['max_delay'])} | "
                     f"{s['false_alarms']} | {s['false_per_service_day']:.3f} | "
                     f"{s['false_per_service_day'] * 7:.2f} |")
    burst = next(o for o in outcomes if o.family.startswith("bursts"))
    detail = ["| burst | lasting | caught | within 2 min on 0.1/min | on 1/min | on 10/min | "
              "median delay |", "|---|---|---:|---:|---:|---:|---:|", *burst_breakdown(burst)]
    settings = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "default `[detect]` settings"
    report = (f"Rate-spike detection, {settings}, "
              f"{'quick' if quick else 'full'} run ({time.time() - started:.0f} s; "
              "`python bench/detection/harness.py`).\n\n" + "\n".join(lines)
              + "\n\nBursts by size and length (caught at all, then caught within 2 minutes "
              "per baseline):\n\n" + "\n".join(detail) + "\n")
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "detection.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()

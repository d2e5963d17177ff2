"""Evaluation of the rate detector on labelled, generated scenarios.

Each family feeds the real ``RateDetector`` (default ``[detect]`` settings)
Poisson counts per 10-second bucket, with known truth: when each rise starts and
ends. Reported per family: rises, how many were caught (a spike opened while the
rise lasted, or within 2 minutes after its end), how many within 2 and within 10
minutes (ramps: within 10 minutes of reaching their full level), the median and
90th-percentile detection delay from the start of the rise, and false spikes
(spikes opened outside any rise) per service-week.

    python bench/detection/harness.py            # writes bench/out/detection.md
    python bench/detection/harness.py --quick --set rate_sensitivity=1e-5   # try a knob

Families: steady Poisson rates from 0.1 to 100/min; diurnal waves (±80 %); weekly
patterns (business-hours days, quiet weekends); slow ramps (5× over 6 hours: traffic
growth, not trouble); bursts of 3×–100× lasting 1–30 minutes on 0.1–10/min
baselines; ramps to 3× and 5× over 10–60 minutes (held an hour); sustained 3× steps
(4 hours), one per service; single stray events after long silence; deploy-time blips (2 minutes at
3×); many sparse services (0.05/min). Then the targets of issue 17, each computed
from the families above.
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
WEEK = 7 * DAY
BUCKET = 10.0
START = 1795132800.0                     # 2026-11-20T00:00:00Z, a Friday
CLS = "lock_timeout"
Rate = Callable[[np.ndarray], np.ndarray]


@dataclass
class Burst:
    """A rise: from ``start`` to ``end`` the rate is above ``baseline`` (events/min)."""

    service: str
    start: float
    end: float
    multiplier: float
    baseline: float
    full: float | None = None            # when a ramp reaches its full level (else start)

    @property
    def due(self) -> float:
        """Caught "in time" by then: 10 minutes after the full level is reached."""
        return (self.start if self.full is None else self.full) + 600.0


@dataclass
class Outcome:
    family: str
    service_days: float = 0.0
    bursts: list[Burst] = field(default_factory=list)
    opens: list[tuple[str, float]] = field(default_factory=list)   # (service, time)
    summaries: list[str] = field(default_factory=list)

    def score(self) -> dict[str, Any]:
        matched: set[int] = set()
        delays: list[float] = []
        caught = fast = in_time = 0
        by_service: dict[str, list[int]] = {}
        for i, (service, _) in enumerate(self.opens):
            by_service.setdefault(service, []).append(i)
        for burst in self.bursts:
            hits = [i for i in by_service.get(burst.service, ())
                    if burst.start <= self.opens[i][1] <= burst.end + 120]
            if hits:
                caught += 1
                when = self.opens[hits[0]][1]
                delays.append(when - burst.start)
                fast += when - burst.start <= 120
                in_time += when <= burst.due
                matched.update(hits)
        false = len(self.opens) - len(matched)
        weeks = self.service_days / 7
        return {"family": self.family, "bursts": len(self.bursts), "caught": caught,
                "caught_2min": fast, "caught_in_time": in_time,
                "median_delay": statistics.median(delays) if delays else math.nan,
                "p90_delay": _percentile(delays, 90),
                "max_delay": max(delays) if delays else math.nan,
                "false_alarms": false,
                "false_per_service_day": false / self.service_days if self.service_days else 0.0,
                "false_per_service_week": false / weeks if weeks else 0.0,
                "service_days": self.service_days}

    def subset(self, keep: Callable[[Burst], bool]) -> Outcome:
        return Outcome(self.family, bursts=[b for b in self.bursts if keep(b)], opens=self.opens)

    def only(self, **match: float) -> Outcome:
        """The rises with these ``multiplier``, ``baseline``, ``minutes`` (how long they
        last; ramps: how long they climb)."""
        def keep(burst: Burst) -> bool:
            minutes = round(((burst.full or burst.end) - burst.start) / 60)
            values = {"multiplier": burst.multiplier, "baseline": burst.baseline,
                      "minutes": minutes}
            return all(values[name] == value for name, value in match.items())
        return self.subset(keep)


def _percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least ``q`` % of them at or below it."""
    if not values:
        return math.nan
    return sorted(values)[max(1, math.ceil(q / 100 * len(values))) - 1]


CONFIG = DetectConfig()


def simulate(family: str, services: dict[str, Rate], days: float, bursts: list[Burst],
             seed: int) -> Outcome:
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
                outcome.summaries.append(event["summary"])

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


def constant(rate: float) -> Rate:
    return lambda t: np.full_like(t, rate)


def with_bursts(base: Rate, bursts: list[Burst], service: str) -> Rate:
    """``base``, with each burst's rise: a ramp to ``multiplier`` × baseline until ``full``
    (if it has one), then that level until ``end``."""
    def rate(t: np.ndarray) -> np.ndarray:
        value = base(t).copy()
        for burst in bursts:
            if burst.service != service:
                continue
            top = burst.baseline * burst.multiplier
            inside = (t >= burst.start) & (t < burst.end)
            value[inside] = top
            if burst.full is not None:
                climbing = (t >= burst.start) & (t < burst.full)
                share = (t[climbing] - burst.start) / (burst.full - burst.start)
                value[climbing] = burst.baseline + (top - burst.baseline) * share
        return value
    return rate


def daily_starts(rng: np.random.Generator, days: int, margin: float = 4 * 3600) -> list[float]:
    """One start a day from day 1 on, at a random time of day."""
    return [START + day * DAY + float(rng.uniform(2 * 3600, DAY - margin))
            for day in range(1, days)]


def weekly(rate: float) -> Rate:
    """Business-hours days (peak at 14:00 UTC, ±60 %), weekends at a quarter of that;
    the week starts and ends over three hours around midnight."""
    def level(t: np.ndarray) -> np.ndarray:
        day = ((t - START) / DAY + 4) % 7          # 0 = Monday 00:00 (START is a Friday)
        weekend = np.clip((day - 5 + 0.0625) / 0.125, 0, 1)          # Friday night → Saturday
        weekend = np.minimum(weekend, np.clip((7 - day + 0.0625) / 0.125, 0, 1))
        weekend = np.where(day < 0.0625, np.clip((0.0625 - day) / 0.125, 0, 1), weekend)
        shape = 1 + 0.6 * np.sin(2 * np.pi * ((t - START) / DAY - 8 / 24))
        return rate * shape * (1 - 0.75 * weekend)
    return level


def families(quick: bool) -> list[Outcome]:
    rng = np.random.default_rng(7)
    long_days = 3.0 if quick else 28.0
    results = []

    steady = {f"steady-{r}": constant(r) for r in (0.1, 0.5, 1.0, 5.0, 20.0, 100.0)}
    results.append(simulate("steady Poisson 0.1–100/min", steady, long_days, [], seed=1))

    def wave(r: float, phase: float) -> Rate:
        return lambda t: r * (1 + 0.8 * np.sin(2 * np.pi * ((t - START) / DAY - phase)))

    diurnal = {f"diurnal-{r}": wave(r, phase) for r, phase in ((1.0, 0.0), (10.0, 0.3),
                                                               (50.0, 0.6))}
    results.append(simulate("diurnal waves (±80%)", diurnal, long_days, [], seed=2))

    weeks = {f"weekly-{r}": weekly(r) for r in (1.0, 10.0, 50.0)}
    results.append(simulate("weekly patterns (quiet weekends)", weeks, 10.0 if quick else 28.0, [],
                            seed=9))

    def ramp(r: float) -> Rate:
        begin, length = START + DAY, 6 * 3600.0
        return lambda t: r * (1 + 4 * np.clip((t - begin) / length, 0, 1))

    ramps = {f"ramp-{r}": ramp(r) for r in (1.0, 3.0, 10.0, 20.0, 50.0)}
    results.append(simulate("slow ramps (5× over 6 h)", ramps, 2.0 if quick else 7.0, [],
                            seed=3))

    burst_days = 3 if quick else 11
    bursts: list[Burst] = []
    services: dict[str, Rate] = {}
    for base in (0.1, 1.0, 10.0):
        for multiplier in (3, 10, 30, 100):
            for minutes in (1, 3, 10, 30):
                name = f"burst-{base}-{multiplier}x-{minutes}m"
                mine = [Burst(name, start, start + minutes * 60, multiplier, base)
                        for start in daily_starts(rng, burst_days)]
                bursts.extend(mine)
                services[name] = with_bursts(constant(base), mine, name)
    results.append(simulate("bursts 3–100× for 1–30 min", services, burst_days, bursts, seed=4))

    # One rise per service (a rise repeated every day at random times would be, on
    # average, a daily pattern): each service runs two days, the rise comes on the second.
    copies = 2 if quick else 10
    rises: list[Burst] = []
    services = {}
    for base in (1.0, 10.0):
        for multiplier in (3, 5):
            for minutes in (10, 30, 60):
                for copy in range(copies):
                    name = f"rise-{base}-{multiplier}x-{minutes}m-{copy}"
                    (start,) = daily_starts(rng, 2)
                    mine = [Burst(name, start, start + minutes * 60 + 3600, multiplier, base,
                                  full=start + minutes * 60)]
                    rises.extend(mine)
                    services[name] = with_bursts(constant(base), mine, name)
    results.append(simulate("ramps to 3–5× over 10–60 min", services, 2, rises, seed=10))

    steps: list[Burst] = []
    services = {}
    for base in (1.0, 2.0, 5.0, 10.0):
        for copy in range(2 * copies):
            name = f"step-{base}-{copy}"
            (start,) = daily_starts(rng, 2, margin=6 * 3600)
            mine = [Burst(name, start, start + 4 * 3600, 3, base)]
            steps.extend(mine)
            services[name] = with_bursts(constant(base), mine, name)
    results.append(simulate("sustained 3× steps (4 h)", services, 2, steps, seed=11))

    def stray(t: np.ndarray) -> np.ndarray:
        value = np.zeros_like(t)
        value[((t - START) % (12 * 3600)) < BUCKET] = 6.0    # one event in one bucket
        return value

    days = 2.0 if quick else 7.0
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
    results.append(simulate("deploy blips (2 min at 3×)", blip_services, days, blips, seed=6))

    sparse = {f"sparse-{i}": constant(0.05) for i in range(100 if quick else 200)}
    results.append(simulate("many sparse services (0.05/min)", sparse, 1.0 if quick else 2.0,
                            [], seed=8))
    return results


FALSE_ALARM_FAMILIES = ("steady", "diurnal", "weekly", "slow")


def targets(outcomes: list[Outcome]) -> list[tuple[str, str, bool | None]]:
    """Issue 17's targets: (what, measured, met; None for a detail row)."""
    by = {o.family.split()[0]: o for o in outcomes}
    rises = [b for b in by["bursts"].bursts + by["sustained"].bursts
             if b.multiplier == 3 and b.baseline >= 1.0 and b.end - b.start >= 600]
    three = Outcome("3×", bursts=rises, opens=by["bursts"].opens + by["sustained"].opens).score()
    share = three["caught_in_time"] / max(three["bursts"], 1)
    rows: list[tuple[str, str, bool | None]] = [
        ("≥ 90 % of 3× rises lasting ≥ 10 min on ≥ 1/min caught within 10 min "
         "(3× bursts of 10 and 30 min, sustained 3× steps)",
         f"{three['caught_in_time']}/{three['bursts']} = {share:.0%}", share >= 0.9)]
    for base in sorted({b.baseline for b in rises}):
        part = Outcome("", bursts=[b for b in rises if b.baseline == base],
                       opens=by["bursts"].opens + by["sustained"].opens).score()
        rows.append((f"… of which on {base:g}/min",
                     f"{part['caught_in_time']}/{part['bursts']}", None))
    big = by["bursts"].subset(lambda b: b.multiplier >= 10 and b.baseline >= 1.0).score()
    rows.append(("every ≥ 10× burst ≥ 1 min on ≥ 1/min caught",
                 f"{big['caught']}/{big['bursts']}", big["caught"] == big["bursts"]))
    rows.append(("… median delay ≤ 30 s", _seconds(big["median_delay"]),
                 big["median_delay"] <= 30))
    for family in FALSE_ALARM_FAMILIES:
        s = by[family].score()
        rows.append((f"≤ 0.1 false spikes per service-week: {by[family].family}",
                     f"{s['false_alarms']} in {s['service_days'] / 7:.1f} service-weeks = "
                     f"{s['false_per_service_week']:.2f}", s["false_per_service_week"] <= 0.1))
    return rows


def burst_breakdown(outcome: Outcome) -> list[str]:
    """Bursts by (multiplier, duration): what the targets are about."""
    rows = []
    for multiplier in (3, 10, 30, 100):
        for minutes in (1, 3, 10, 30):
            sub = outcome.only(multiplier=multiplier, minutes=minutes)
            score = sub.score()
            by_base = {}
            for base in (0.1, 1.0, 10.0):
                part = sub.only(baseline=base).score()
                by_base[base] = f"{part['caught_2min']}/{part['bursts']}"
            rows.append(f"| {multiplier}× | {minutes} min | {score['caught']}/{score['bursts']} | "
                        f"{by_base[0.1]} | {by_base[1.0]} | {by_base[10.0]} | "
                        f"{_seconds(score['median_delay'])} |")
    return rows


def rise_breakdown(outcome: Outcome) -> list[str]:
    """Ramps by (baseline, multiplier, ramp length)."""
    rows = []
    for base in (1.0, 10.0):
        for multiplier in (3, 5):
            for minutes in (10, 30, 60):
                s = outcome.only(baseline=base, multiplier=multiplier, minutes=minutes).score()
                rows.append(f"| {base:g}/min | {multiplier}× | {minutes} min | "
                            f"{s['caught']}/{s['bursts']} | {s['caught_in_time']}/{s['bursts']} | "
                            f"{_seconds(s['median_delay'])} | {_seconds(s['p90_delay'])} |")
    return rows


def _met(met: bool | None) -> str:
    return "" if met is None else "yes" if met else "**no**"


def _seconds(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.0f} s"


def table(outcomes: list[Outcome]) -> list[str]:
    lines = ["| family | rises | caught | within 2 min | within 10 min | median delay | "
             "p90 delay | false spikes | per service-week |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for outcome in outcomes:
        s = outcome.score()
        lines.append(f"| {s['family']} | {s['bursts']} | {s['caught']} | {s['caught_2min']} | "
                     f"{s['caught_in_time']} | {_seconds(s['median_delay'])} | "
                     f"{_seconds(s['p90_delay'])} | {s['false_alarms']} | "
                     f"{s['false_per_service_week']:.2f} |")
    return lines


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
    burst = next(o for o in outcomes if o.family.startswith("bursts"))
    rise = next(o for o in outcomes if o.family.startswith("ramps to"))
    detail = ["| burst | lasting | caught | within 2 min on 0.1/min | on 1/min | on 10/min | "
              "median delay |", "|---|---|---:|---:|---:|---:|---:|", *burst_breakdown(burst)]
    ramps = ["| baseline | to | over | caught | within 10 min of full level | median delay | "
             "p90 delay |", "|---|---|---|---:|---:|---:|---:|", *rise_breakdown(rise)]
    goals = ["| target | measured | met |", "|---|---|---|",
             *(f"| {what} | {measured} | {_met(met)} |"
               for what, measured, met in targets(outcomes))]
    example = next((s for s in rise.summaries if " over the last " in s), None)
    settings = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "default `[detect]` settings"
    report = (f"Rate-spike detection, {settings}, "
              f"{'quick' if quick else 'full'} run ({time.time() - started:.0f} s; "
              "`python bench/detection/harness.py`). Delays are from the start of the rise; "
              "ramps count as in time within 10 minutes of reaching their full level.\n\n"
              + "\n".join(table(outcomes))
              + "\n\nBursts by size and length (caught at all, then caught within 2 minutes "
              "per baseline):\n\n" + "\n".join(detail)
              + "\n\nRamps by baseline, height and length:\n\n" + "\n".join(ramps)
              + "\n\nIssue 17's targets:\n\n" + "\n".join(goals) + "\n"
              + (f"\nA slow rise, as reported: `{example}`\n" if example else ""))
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "detection.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()

"""Rate spikes: learned baselines, improbable windows, protection, adaptation, memory."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace
from typing import Any

import pytest

from detector.config import DetectConfig
from detector.detect.rates import ERROR_RATE, KEY_EXPIRY, RateDetector
from detector.detect.stats import upper_tail
from detector.incidents import IncidentTracker

T0 = 1795132800.0          # 2026-11-20T00:00:00Z


class Run:
    def __init__(self, config: DetectConfig | None = None) -> None:
        self.config = config or DetectConfig()
        self.tracker = IncidentTracker(resolve_after=self.config.resolve_after,
                                       update_interval=self.config.update_interval)
        self.events: list[dict[str, Any]] = []
        self.detector = RateDetector(self.config)
        self.rng = random.Random(42)

    def advance(self, watermark: float) -> None:
        """The detector's verdicts, through the tracker, as the pipeline does it."""
        for finding in self.detector.advance(watermark):
            self.events.extend(self.tracker.apply(finding))
        self.tracker.tick(watermark)

    def poisson(self, per_minute: float) -> int:
        # Knuth's method: fine for the small means of one 10-second bucket
        limit, k, p = math.exp(-per_minute / 6), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1

    def play(self, start: float, minutes: float, per_minute: float, service: str = "api",
             cls: str = "lock_timeout") -> None:
        for bucket in range(int(minutes * 6)):
            t = start + bucket * 10 + 1
            n = self.poisson(per_minute)
            if n:
                self.detector.count(service, cls, t, n, sample=f"LockError #{bucket}")
            self.advance(t - 1)

    def spikes(self, event: str = "open") -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == "rate_spike" and e["event"] == event]


def seconds(stamp: str) -> float:
    from detector.decode.timestamps import parse_iso

    return parse_iso(stamp) or 0.0


def test_steady_traffic_is_never_a_spike() -> None:
    run = Run()
    run.detector.seen("api", T0)
    run.play(T0, 6 * 60, 5.0)
    assert run.spikes() == []


def test_a_burst_opens_a_spike_quickly_and_resolves_after_it() -> None:
    run = Run()
    run.detector.seen("api", T0)
    run.play(T0, 120, 1.0)
    burst = T0 + 120 * 60
    run.play(burst, 5, 20.0)
    run.play(burst + 300, 30, 1.0)
    (opened,) = run.spikes()
    assert seconds(opened["first_seen"]) - burst <= 120
    assert opened["class"] == "lock_timeout" and opened["service"] == "api"
    assert opened["summary"].startswith("Lock-timeout rate in api: ")
    assert "/min, baseline " in opened["summary"] and "×)" in opened["summary"]
    assert float(opened["fields"]["ratio"]) >= 5
    (resolved,) = run.spikes("resolve")
    assert burst + 300 <= seconds(resolved["last_seen"]) <= burst + 300 + 5 * 60


def test_one_event_after_silence_is_not_a_spike() -> None:
    run = Run()
    run.detector.seen("api", T0)
    run.play(T0, 240, 0.0)
    run.detector.count("api", "lock_timeout", T0 + 240 * 60 + 5)
    run.play(T0 + 240 * 60 + 10, 30, 0.0)
    assert run.spikes() == []


def test_the_spike_is_not_learned_as_the_baseline() -> None:
    run = Run()
    run.detector.seen("api", T0)
    run.play(T0, 120, 1.0)
    before = run.detector.keys[("api", "lock_timeout")].baseline()[0]
    run.play(T0 + 7200, 20, 30.0)
    run.play(T0 + 7200 + 1200, 10, 1.0)
    after = run.detector.keys[("api", "lock_timeout")].baseline()[0]
    assert len(run.spikes()) == 1
    assert after == pytest.approx(before, rel=0.25)


def test_a_lasting_new_level_is_learned_and_stops_being_a_spike() -> None:
    config = replace(DetectConfig(), rate_adapt_after=1800.0)
    run = Run(config)
    run.detector.seen("api", T0)
    run.play(T0, 120, 1.0)
    run.play(T0 + 7200, 240, 15.0)                    # 15× for four hours
    assert len(run.spikes()) >= 1
    assert len(run.spikes("resolve")) == len(run.spikes())
    key = run.detector.keys[("api", "lock_timeout")]
    assert key.spike is None
    assert key.baseline()[0] > 5.0                    # it learned the new level


def test_no_verdict_during_the_grace_of_a_brand_new_service() -> None:
    run = Run()
    run.play(T0, 10, 50.0)                            # nothing known about it yet
    assert run.spikes() == []


def test_trouble_first_seen_hours_into_a_service_is_judged_against_zero() -> None:
    run = Run()
    run.detector.seen("api", T0)                      # the service ran quietly for hours
    run.play(T0 + 4 * 3600, 5, 20.0)
    (opened,) = run.spikes()
    assert "baseline under 0.01/min" in opened["summary"]


def test_error_rate_spikes_are_not_repeated_for_a_class_spike() -> None:
    run = Run()
    detector = run.detector
    detector.seen("api", T0)
    for minute in range(180):
        t = T0 + minute * 60 + 1
        if minute >= 120:
            for _ in range(20):
                detector.count("api", "lock_timeout", t)
                detector.count("api", ERROR_RATE, t)
        run.advance(t)
    classes = [e["class"] for e in run.spikes()]
    assert classes == ["lock_timeout"]


def test_unclassified_errors_spike_as_error_rate() -> None:
    run = Run()
    run.detector.seen("api", T0)
    run.play(T0, 120, 0.5, cls=ERROR_RATE)
    run.play(T0 + 7200, 5, 30.0, cls=ERROR_RATE)
    (opened,) = run.spikes()
    assert opened["class"] == ERROR_RATE
    assert opened["summary"].startswith("Error rate in api: ")
    assert opened["runbook"]["title"] == "More errors than usual"


def test_late_events_are_counted_not_added() -> None:
    run = Run()
    run.detector.count("api", "lock_timeout", T0 + 100)
    run.advance(T0 + 600)
    run.detector.count("api", "lock_timeout", T0 + 100)
    assert run.detector.late == 1


def test_memory_is_bounded_by_max_keys_and_idle_expiry() -> None:
    run = Run(replace(DetectConfig(), rate_max_keys=10))
    for n in range(25):
        run.detector.count(f"svc-{n}", "lock_timeout", T0 + n)
    assert len(run.detector.keys) == 10
    run.advance(T0 + KEY_EXPIRY + 3600)
    assert run.detector.keys == {}


def test_state_survives_a_restart() -> None:
    def scenario(restart: bool) -> list[str]:
        run = Run()
        run.detector.seen("api", T0)
        run.play(T0, 120, 1.0)
        if restart:
            saved = json.dumps(run.detector.snapshot())
            fresh = RateDetector(run.config)
            fresh.restore(json.loads(saved))
            run.detector = fresh
        run.play(T0 + 7200, 5, 20.0)
        return [e["first_seen"] for e in run.spikes()]

    assert scenario(restart=True) == scenario(restart=False) != []


def test_the_threshold_is_the_first_count_that_would_open() -> None:
    run = Run()
    threshold = run.detector.threshold(1.0, None)
    config = run.config
    assert upper_tail(int(threshold), 1.0) < config.rate_sensitivity
    assert upper_tail(int(threshold) - 1, 1.0) >= config.rate_sensitivity

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
    # once the 5-minute window no longer holds it, and three quiet minutes more
    assert burst + 300 <= seconds(resolved["last_seen"]) <= burst + 300 + 10 * 60


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


# -- several time scales ------------------------------------------------------------------

def test_a_slow_rise_opens_a_spike_that_says_over_what_span() -> None:
    run = Run()
    run.detector.seen("api", T0)
    run.play(T0, 180, 1.0)
    rise = T0 + 180 * 60
    run.play(rise, 30, 3.0)                            # 3× for 30 min: 90 where 30 were usual
    (opened,) = run.spikes()
    assert seconds(opened["first_seen"]) - rise <= 20 * 60
    summary = opened["summary"]
    assert summary.startswith("Lock-timeout rate in api: ") and " over the last " in summary
    assert " min, baseline " in summary
    assert opened["fields"]["window_min"] in ("5", "10", "30")
    assert 2.0 <= float(opened["fields"]["ratio"]) <= 5.0


def test_a_short_sharp_burst_is_judged_on_the_last_minute() -> None:
    run = Run()
    run.detector.seen("api", T0)
    run.play(T0, 120, 1.0)
    burst = T0 + 120 * 60
    run.play(burst, 1, 30.0)
    run.play(burst + 60, 20, 1.0)
    (opened,) = run.spikes()
    assert seconds(opened["first_seen"]) - burst <= 60
    assert " over the last " not in opened["summary"] and opened["fields"]["window_min"] == "1"


def test_a_burst_that_is_over_does_not_open_a_slower_spike_after_it() -> None:
    run = Run()
    run.detector.seen("api", T0)
    run.play(T0, 120, 1.0)
    run.play(T0 + 7200, 5, 20.0)
    run.play(T0 + 7200 + 300, 60, 1.0)
    assert len(run.spikes()) == 1 and len(run.spikes("resolve")) == 1


def test_a_deploy_blip_of_two_minutes_at_three_times_is_not_an_incident() -> None:
    run = Run()
    run.detector.seen("api", T0)
    run.play(T0, 180, 5.0)
    for n in range(6):                                 # six deploys, an hour apart
        start = T0 + (180 + 60 * n) * 60
        run.play(start, 2, 15.0)
        run.play(start + 120, 58, 5.0)
    assert len(run.spikes()) <= 1


def test_slow_growth_is_learned_not_reported() -> None:
    run = Run()
    run.detector.seen("api", T0)
    run.play(T0, 180, 2.0)
    for step in range(36):                             # 2/min → 10/min over six hours
        run.play(T0 + (180 + 10 * step) * 60, 10, 2.0 * (1 + 4 * step / 35))
    assert run.spikes() == []


def test_the_scales_can_be_configured(tmp_path: Any) -> None:
    from detector.config import load_config
    from detector.errors import ConfigError

    path = tmp_path / "detector.toml"
    path.write_text('[detect]\nrate_scales = ["1h", "2m"]\n')
    config = load_config(path, env={}).detect
    assert config.rate_scales == (120.0, 3600.0)
    assert RateDetector(config).scales == [2, 60]
    path.write_text('[detect]\nrate_scales = []\n')
    assert RateDetector(load_config(path, env={}).detect).scales == []
    for text, problem in (('rate_scales = "5m"', "must be a list of durations"),
                          ('rate_scales = ["5 minutes"]', "must be a duration"),
                          ('rate_scales = ["30s"]', "at least detect.rate_window")):
        path.write_text(f"[detect]\n{text}\n")
        with pytest.raises(ConfigError) as caught:
            load_config(path, env={})
        assert problem in caught.value.located() and ":2:" in caught.value.located()


def test_only_the_learning_window_is_judged_without_scales() -> None:
    run = Run(replace(DetectConfig(), rate_scales=()))
    run.detector.seen("api", T0)
    run.play(T0, 120, 1.0)
    run.play(T0 + 7200, 30, 3.0)                       # a slow rise: nobody sees it
    run.play(T0 + 9000, 5, 30.0)                       # a sharp burst: seen
    (opened,) = run.spikes()
    assert " over the last " not in opened["summary"]


# -- seasonality ----------------------------------------------------------------------------

def wave(t: float) -> float:
    """±80 % over the day, peak at 06:00 UTC, 5/min on average."""
    return 5.0 * (1 + 0.8 * math.sin(2 * math.pi * (t - T0) / 86400))


def play_wave(run: Run, start: float, hours: float) -> None:
    for minute in range(int(hours * 60)):
        t = start + minute * 60
        run.play(t, 1, wave(t))


def test_a_daily_wave_is_learned_as_the_hours_usual_rate() -> None:
    run = Run()
    run.detector.seen("api", T0)
    play_wave(run, T0, 72)
    assert run.spikes() == []
    key = run.detector.keys[("api", "lock_timeout")]
    assert key.profile.daily_on and not key.profile.weekly_on
    peak, trough = key.profile.factor(T0 + 6 * 3600), key.profile.factor(T0 + 18 * 3600)
    assert 1.4 <= peak <= 2.0 and 0.1 <= trough <= 0.5
    # the baseline at 06:00 is what 06:00 looks like, not the level of the night before
    expected = key.expected(int((T0 + 3 * 86400 + 6 * 3600) // 60), 60.0)[0]
    assert expected[0] == pytest.approx(wave(T0 + 6 * 3600), rel=0.3)


def test_a_rise_in_a_quiet_hour_is_a_spike_below_the_days_average() -> None:
    run = Run()
    run.detector.seen("api", T0)
    play_wave(run, T0, 4 * 24 + 18)                    # four days and a half of waves
    quiet = T0 + 4 * 86400 + 18 * 3600                # 18:00: 1/min is usual, 5/min the mean
    run.play(quiet, 30, 4 * wave(quiet))
    (opened,) = run.spikes()
    assert float(opened["fields"]["rate_per_min"]) < 5.0


def test_a_weekly_shape_is_learned_with_a_week_of_history() -> None:
    detector = RateDetector(DetectConfig())
    detector.seen("api", T0)
    rng = random.Random(3)
    for minute in range(9 * 1440):
        t = T0 + minute * 60
        weekend = ((t // 86400) + 3) % 7 >= 5          # 1970-01-01 was a Thursday
        rate = 2.0 if weekend else 8.0
        n = sum(rng.random() < rate / 60 for _ in range(60))
        if n:
            detector.count("api", "lock_timeout", t + 1, n)
        detector.advance(t)
    key = detector.keys[("api", "lock_timeout")]
    assert key.profile.weekly_on
    saturday = T0 + 1 * 86400 + 12 * 3600              # T0 is a Friday
    monday = T0 + 3 * 86400 + 12 * 3600
    assert key.profile.factor(monday) / key.profile.factor(saturday) > 2.5


# -- state ----------------------------------------------------------------------------------

def test_what_was_learned_survives_a_restart_with_its_profile() -> None:
    def scenario(restart: bool) -> list[tuple[str, str]]:
        run = Run()
        run.detector.seen("api", T0)
        play_wave(run, T0, 30)
        if restart:
            saved = json.dumps(run.detector.snapshot())
            fresh = RateDetector(run.config)
            fresh.restore(json.loads(saved))
            assert fresh.snapshot() == json.loads(saved)
            run.detector = fresh
        run.play(T0 + 30 * 3600, 20, 3 * wave(T0 + 30 * 3600))
        return [(e["first_seen"], e["summary"]) for e in run.spikes()]

    assert scenario(restart=True) == scenario(restart=False) != []


def test_a_version_1_snapshot_is_read_and_keeps_its_baseline() -> None:
    run = Run()
    run.detector.seen("api", T0)
    run.play(T0, 120, 2.0)
    saved = run.detector.snapshot()
    key = saved["keys"][0]
    version1 = {"version": 1, "bucket": saved["bucket"], "window_buckets": 6,
                "services": saved["services"],
                "keys": [{name: value for name, value in key.items()
                          if name not in ("slow", "profile", "minutes", "held_start")}
                         | {"recent": [0] * 12, "spike": None}]}
    fresh = RateDetector(run.config)
    fresh.restore(json.loads(json.dumps(version1)))
    restored = fresh.keys[("api", "lock_timeout")]
    assert restored.slow.mean == pytest.approx(restored.moments.mean)
    assert restored.moments.mean == pytest.approx(
        run.detector.keys[("api", "lock_timeout")].moments.mean)
    assert fresh.snapshot()["version"] == 2


def test_memory_per_key_is_bounded() -> None:
    """The bytes per key that docs/detection.md states, with every part in use (a week and
    more of history, so both profiles): as JSON, and as live objects (measured by
    tracemalloc over 300 restored copies; samples here are short, real ones add up to
    3 × 2,000 characters)."""
    import gc
    import tracemalloc

    run = Run()
    run.detector.seen("api", T0)
    play_wave(run, T0, 8 * 24 + 2)
    saved = run.detector.snapshot()
    (key,) = saved["keys"]
    assert key["profile"]["since"] is not None
    assert len(json.dumps(key)) < 3500
    copies = json.loads(json.dumps({**saved, "keys": [{**key, "service": f"svc-{n}"}
                                                      for n in range(300)]}))
    detector = RateDetector(run.config)
    gc.collect()
    tracemalloc.start()
    try:
        detector.restore(copies)
        del copies
        gc.collect()
        used = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert used / 300 < 6500

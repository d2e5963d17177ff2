"""Tail probabilities of counts, against direct summation; moments and profiles."""

from __future__ import annotations

import json
import math

import pytest

from detector.detect.stats import EWMoments, Profile, upper_tail


def poisson_tail(k: int, mean: float) -> float:
    return 1.0 - sum(math.exp(i * math.log(mean) - mean - math.lgamma(i + 1)) for i in range(k))


def nbinom_tail(k: int, mean: float, var: float) -> float:
    r = mean * mean / (var - mean)
    p = r / (r + mean)
    pmf = [math.exp(math.lgamma(i + r) - math.lgamma(r) - math.lgamma(i + 1) + r * math.log(p)
                    + i * math.log1p(-p)) for i in range(k)]
    return 1.0 - sum(pmf)


@pytest.mark.parametrize(("k", "mean"), [(3, 1.0), (5, 0.5), (10, 2.0), (20, 5.0), (8, 1.5)])
def test_poisson(k: int, mean: float) -> None:
    assert upper_tail(k, mean) == pytest.approx(poisson_tail(k, mean), rel=1e-9)


@pytest.mark.parametrize(("k", "mean", "var"), [(5, 1.0, 3.0), (12, 2.0, 10.0), (30, 5.0, 20.0)])
def test_negative_binomial_for_overdispersed_counts(k: int, mean: float, var: float) -> None:
    assert upper_tail(k, mean, var) == pytest.approx(nbinom_tail(k, mean, var), rel=1e-9)
    assert upper_tail(k, mean, var) > upper_tail(k, mean)      # heavier tail than Poisson


def test_edges() -> None:
    assert upper_tail(0, 3.0) == 1.0
    assert upper_tail(5, 0.0) == 0.0
    assert upper_tail(2, 5.0) == 1.0                               # not past the mode
    assert 0 < upper_tail(400, 1.0) < 1e-300 or upper_tail(400, 1.0) == 0.0


# -- exponentially weighted moments ---------------------------------------------------------

def test_young_moments_are_bias_corrected_and_saved_raw() -> None:
    moments = EWMoments(0.01)
    for _ in range(30):
        moments.update(10.0)
    assert moments.mean == pytest.approx(10.0)              # not 26 % of it
    assert abs(moments.variance) < 1e-6
    assert moments.effective == pytest.approx(30, rel=0.05)
    raw = moments.to_json()
    assert raw[0] == pytest.approx(10.0 * (1 - 0.99 ** 30))
    again = EWMoments.from_json(0.01, raw, n=30)
    assert again.mean == pytest.approx(moments.mean) and again.to_json() == raw


def test_moments_in_the_long_run() -> None:
    moments = EWMoments(0.05)
    for i in range(2000):
        moments.update(float(i % 2))
    assert moments.mean == pytest.approx(0.5, abs=0.03)
    assert moments.variance == pytest.approx(0.25, abs=0.02)
    assert moments.effective == pytest.approx((2 - 0.05) / 0.05)
    moments.decay(10_000_000)                                 # constant time
    assert moments.mean == pytest.approx(0.0, abs=1e-12) and moments.n == 10_002_000
    moments.scale(2.0)


# -- the profile ----------------------------------------------------------------------------

HOUR, DAY = 3600.0, 86400.0
T0 = 1795132800.0          # 2026-11-20T00:00:00Z, a Friday


def shape(t: float) -> float:
    """Busy days (2× at 14:00, 0.4 at 02:00), weekends at a quarter."""
    day = 1 + 0.6 * math.sin(2 * math.pi * ((t % DAY) / DAY - 8 / 24))
    weekend = ((t // DAY) + 3) % 7 >= 5
    return day * (0.25 if weekend else 1.0)


def learn(profile: Profile, start: float, days: float, per_hour: float) -> None:
    """Hours of exactly the expected counts, against a reference of ``per_hour``."""
    for hour in range(int(days * 24)):
        t = start + hour * HOUR
        for minute in range(60):
            w = t + minute * 60
            profile.learn(w, w + 60, per_hour / 60 * shape(w + 30), per_hour / 60)


def test_a_profile_is_flat_until_a_day_is_learned() -> None:
    profile = Profile()
    learn(profile, T0, 0.9, 600)
    assert not profile.daily_on and profile.factor(T0 + 14 * HOUR) == 1.0


def test_the_daily_shape_is_learned_and_read_between_hour_centres() -> None:
    profile = Profile()
    learn(profile, T0, 1.0, 600)                            # Friday: a full day
    assert profile.daily_on and not profile.weekly_on
    assert profile.factor(T0 + 14 * HOUR) == pytest.approx(1.6, rel=0.05)
    assert profile.factor(T0 + 2 * HOUR) == pytest.approx(0.4, rel=0.1)
    between = profile.factor(T0 + 14 * HOUR + 1800)          # half-way to the next centre
    assert between == pytest.approx((profile.daily[14] + profile.daily[15]) / 2, rel=0.01)
    assert sum(profile.daily) == pytest.approx(24)


def test_the_weekly_shape_is_used_after_a_day_and_a_week() -> None:
    profile = Profile()
    learn(profile, T0, 8.5, 600)
    assert profile.weekly_on
    saturday, monday = T0 + 1 * DAY + 14 * HOUR, T0 + 3 * DAY + 14 * HOUR
    assert profile.factor(monday) / profile.factor(saturday) == pytest.approx(4, rel=0.25)


def test_factors_with_little_evidence_stay_near_one() -> None:
    sparse, busy = Profile(), Profile()
    learn(sparse, T0, 2, 3)                                 # three events an hour
    learn(busy, T0, 2, 600)
    t = T0 + 2 * DAY + 14 * HOUR
    assert abs(sparse.factor(t) - 1) < abs(busy.factor(t) - 1) / 2


def test_the_misfit_measures_how_far_off_the_hours_are() -> None:
    fits, misses = Profile(), Profile()
    for hour in range(72):
        for profile, count in ((fits, 60.0), (misses, 60.0 * (1.3 if hour % 2 else 0.7))):
            t = T0 + hour * HOUR
            for minute in range(60):
                profile.learn(t + minute * 60, t + minute * 60 + 60, count / 60, 1.0)
    assert fits.misfit < 0.01
    assert misses.misfit == pytest.approx(0.09, rel=0.3)     # off by 30 %, squared


def test_a_profile_goes_through_json() -> None:
    profile = Profile()
    learn(profile, T0, 1.5, 120)
    saved = json.loads(json.dumps(profile.to_json()))
    again = Profile.from_json(saved)
    assert again.to_json() == saved
    assert again.factor(T0 + 40 * HOUR) == profile.factor(T0 + 40 * HOUR)
    with pytest.raises(ValueError):
        Profile.from_json({**saved, "daily": [1.0] * 23})


def test_quiet_hours_are_learned_a_week_at_most() -> None:
    profile = Profile()
    learn(profile, T0, 1.0, 600)
    profile.learn_quiet(T0 + DAY, T0 + DAY + 1000 * 365 * DAY, 10.0, 60.0)
    assert profile.until == T0 + DAY + 1000 * 365 * DAY

"""Count statistics: tail probabilities for Poisson and negative-binomial counts, the
exponentially weighted moments of a series, and its learned daily and weekly shape.

Error counts are small integers with long runs of zeros, often overdispersed
(bursty): a Gaussian score is wrong for them. The probability of seeing at least
``k`` events when ``mean`` were expected (with variance ``variance``) is the
score; it is computed by summing the distribution's terms from ``k`` upwards in
log space, which converges quickly because ``k`` is above the mean whenever it
is asked.
"""

from __future__ import annotations

import math
from array import array
from typing import Any

from river import stats

__all__ = ["EWMoments", "Profile", "upper_tail"]

_TOLERANCE = 1e-12
_MAX_TERMS = 10_000


def _poisson_log_pmf(k: int, mean: float) -> float:
    return k * math.log(mean) - mean - math.lgamma(k + 1)


def _nbinom_log_pmf(k: int, r: float, p: float) -> float:
    return (math.lgamma(k + r) - math.lgamma(r) - math.lgamma(k + 1)
            + r * math.log(p) + k * math.log1p(-p))


def upper_tail(k: int, mean: float, variance: float | None = None) -> float:
    """P(X >= k) for a count with this mean (and variance: > mean means overdispersed).

    Poisson when the variance is unknown or not above the mean, negative binomial
    (with the method-of-moments shape) otherwise.
    """
    if k <= 0:
        return 1.0
    if mean <= 0.0:
        return 0.0
    if variance is not None and variance > mean * 1.01:
        r = mean * mean / (variance - mean)
        p = r / (r + mean)

        def log_pmf(i: int) -> float:
            return _nbinom_log_pmf(i, r, p)

        def ratio(i: int) -> float:      # pmf(i + 1) / pmf(i)
            return (i + r) / (i + 1) * (1 - p)
    else:
        def log_pmf(i: int) -> float:
            return _poisson_log_pmf(i, mean)

        def ratio(i: int) -> float:
            return mean / (i + 1)

    if ratio(k) >= 1.0:
        # k is not yet past the mode: the tail is large; no spike anyway.
        return 1.0
    first = log_pmf(k)
    total = 1.0
    term = 1.0
    i = k
    for _ in range(_MAX_TERMS):
        term *= ratio(i)
        total += term
        i += 1
        if term < _TOLERANCE * total:
            break
    return min(1.0, math.exp(first + math.log(total)))


class EWMoments:
    """Exponentially weighted mean and variance of a series, restorable from JSON.

    river's ``EWMean``, twice: of x and of x² (the variance is their difference, as
    river's ``EWVar`` computes it). river's statistics live in Rust objects whose state
    only pickles; keeping the two means as plain numbers lets the state directory hold
    versioned JSON that survives an upgrade of river. A fresh ``EWMean`` takes its first
    value as its mean, which is how a saved value is put back.

    Both means start from zero, so while the series is young they are read through the
    usual bias correction: divided by the share of the weights that data has filled,
    ``1 - (1 - fading) ** n`` after ``n`` updates. The saved numbers are the raw means;
    ``n`` is kept by the caller (it is the key's count of learned windows).
    """

    __slots__ = ("_mean", "_square", "_weight", "fading", "n")

    def __init__(self, fading: float, mean: float = 0.0, square: float = 0.0,
                 n: int = 0) -> None:
        self.fading = fading
        self.n = n
        self._weight = 1.0 - (1.0 - fading) ** n if n < 100_000 else 1.0
        self._mean = stats.EWMean(fading_factor=fading)
        self._square = stats.EWMean(fading_factor=fading)
        self._mean.update(mean)
        self._square.update(square)

    def update(self, x: float) -> None:
        self._mean.update(x)
        self._square.update(x * x)
        self.n += 1
        self._weight += self.fading * (1.0 - self._weight)

    def decay(self, n: int) -> None:
        """``n`` updates with zero, in constant time (a long quiet gap)."""
        keep = (1.0 - self.fading) ** n
        self._reset(self._mean.get() * keep, self._square.get() * keep)
        self.n += n
        self._weight = 1.0 - (1.0 - self._weight) * keep

    def scale(self, factor: float) -> None:
        """Every value seen so far, multiplied by ``factor``."""
        self._reset(self._mean.get() * factor, self._square.get() * factor * factor)

    def _reset(self, mean: float, square: float) -> None:
        self._mean = stats.EWMean(fading_factor=self.fading)
        self._square = stats.EWMean(fading_factor=self.fading)
        self._mean.update(mean)
        self._square.update(square)

    @property
    def weight(self) -> float:
        """The share of the weights that data has filled (1 once the series is long)."""
        return self._weight

    @property
    def mean(self) -> float:
        weight = self._weight
        return float(self._mean.get()) / weight if weight > 0.0 else 0.0

    @property
    def variance(self) -> float:
        """May dip just below zero by rounding, as river's ``EWVar`` does."""
        weight = self._weight
        if weight <= 0.0:
            return 0.0
        mean = float(self._mean.get()) / weight
        return float(self._square.get()) / weight - mean * mean

    @property
    def effective(self) -> float:
        """How many values the mean is worth (Kish's effective sample size of the weights):
        ``n`` while young, ``(2 - fading) / fading`` in the long run."""
        if self.n <= 0:
            return 0.0
        a = self.fading
        filled = self.weight
        squares = a * (1.0 - (1.0 - a) ** (2 * self.n)) / (2.0 - a) if self.n < 100_000 \
            else a / (2.0 - a)
        return filled * filled / squares if squares > 0.0 else float(self.n)

    def to_json(self) -> list[float]:
        """The raw (uncorrected) means of x and x²."""
        return [float(self._mean.get()), float(self._square.get())]

    @classmethod
    def from_json(cls, fading: float, data: list[float], n: int = 0) -> EWMoments:
        mean, square = data
        return cls(fading, float(mean), float(square), n)


HOUR = 3600.0
DAY = 86400.0
WEEK = 7 * DAY
MONDAY = 96                     # hours from the epoch (a Thursday) to the first Monday 00:00


class Profile:
    """The daily and weekly shape of a rate, learned online: seasonal factors.

    Multiplicative factors with mean 1: one per hour of the day (24) and, on top of
    those, one per hour of the week (168, Monday 00:00 UTC first), read between hour
    centres by linear interpolation. The rate expected at ``t`` is a deseasonalized
    level times ``factor(t)``.

    Each hour of learned counts teaches the factor of its hour: the hour's count against
    what the reference level (the caller's slow, deseasonalized level) expected,
    ``(count + PRIOR) / (expected + PRIOR)`` — shrunk towards 1 where counts are few —
    as an exponentially weighted mean over days (weeks): the first cycle counts fully,
    later ones with weight ``max(1 / cycles, GAMMA)``. The daily factors are used once a
    full day is learned, the weekly ones (learned against the daily ones once those are
    used) a week later; before that, 1 (today's behaviour is the baseline). Each factor is
    shrunk towards 1 as far as its evidence is thin (few events behind it). Memory is
    fixed: 192 doubles and a few numbers.
    """

    PRIOR = 1.0                 # an event of evidence that a factor is 1 (no 0 / 0)
    GAMMA_DAY = 0.15            # weight of each new day, once a few are learned
    GAMMA_WEEK = 0.3
    FLOOR = 0.05                # no hour is expected to be quieter than this

    __slots__ = ("acc_day", "acc_model", "acc_week", "daily", "excess", "fitted", "hour",
                 "hourly", "observed", "scale", "since", "until", "weekly")

    def __init__(self) -> None:
        self.daily = array("d", [1.0] * 24)
        self.weekly = array("d", [1.0] * 168)
        self.since: float | None = None        # start of the first learned window
        self.until = 0.0                       # end of the last learned window
        self.hour: int | None = None           # the hour being accumulated (from the epoch)
        self.observed = 0.0
        self.acc_day = 0.0                     # expected for that hour, without its daily
        self.acc_week = 0.0                    # ... and without its weekly factor
        self.hourly = 0.0                      # events expected in an hour, lately
        self.acc_model = 0.0                   # expected for that hour, as predicted
        self.excess = 0.0                      # lately: (count - predicted)² - predicted,
        self.scale = 0.0                       # ... and predicted², per hour
        self.fitted = 0                        # hours predicted since the shape last changed

    @property
    def daily_on(self) -> bool:
        return self.since is not None and self.until - self.since >= DAY

    @property
    def weekly_on(self) -> bool:
        """A full week of weekly factors learned (they are learned once the daily ones are
        used, against them)."""
        return self.since is not None and self.until - self.since >= DAY + WEEK

    def factor(self, t: float) -> float:
        """The seasonal factor at time ``t`` (1 until a full day is learned)."""
        return self._factor(t, self.daily_on, self.weekly_on)

    def _factor(self, t: float, daily_on: bool, weekly_on: bool) -> float:
        if not daily_on:
            return 1.0
        x = t / HOUR - 0.5
        hour = math.floor(x)
        share = x - hour
        # A factor is only as far from 1 as its evidence allows: each is shrunk towards 1
        # by its noise (1 / the events behind it) against its square distance from 1.
        age = self.until - (self.since or 0.0)
        events = self.hourly * min(age / DAY, 1 / self.GAMMA_DAY)
        daily = self.daily
        low, high = daily[hour % 24], daily[(hour + 1) % 24]
        value = _lerp(low, high, share, events, events)
        if weekly_on:
            weekly = self.weekly
            weeks = self.hourly * min((age - DAY) / WEEK, 1 / self.GAMMA_WEEK)
            value *= _lerp(weekly[(hour - MONDAY) % 168], weekly[(hour + 1 - MONDAY) % 168],
                           share, weeks * low, weeks * high)
        return value if value > self.FLOOR else self.FLOOR

    @property
    def misfit(self) -> float:
        """The relative variance of the hourly counts that the model does not explain
        (beyond Poisson noise): 0 when the predictions fit, 0.04 when they are off by
        about 20 %."""
        return max(self.excess / self.scale, 0.0) if self.scale > 0.0 else 0.0

    def learn(self, start: float, end: float, count: float, reference: float,
              used: float = 1.0) -> float:
        """A learned window ``[start, end)`` held ``count``; the reference level expected
        ``reference`` (deseasonalized), and ``used`` was the seasonal factor applied to it.
        Returns the factor by which the caller's deseasonalized levels change when a
        daily or weekly shape starts to be used (1 otherwise): divide them by it."""
        hour = int(start // HOUR)
        if hour != self.hour:
            self._flush()
            self.hour = hour
        if self.since is None:
            self.since = start
        self.observed += count
        self.acc_day += reference * (self._slot_week(hour) if self.weekly_on else 1.0)
        self.acc_week += reference * self.daily[hour % 24]
        self.acc_model += reference * used
        daily, weekly = self.daily_on, self.weekly_on
        self.until = end
        if self.daily_on == daily and self.weekly_on == weekly:
            return 1.0
        # A new model: its (complete) first cycle is put on a mean of 1, and how well it
        # fits is learned afresh.
        self._flush()
        if not daily:
            _normalize(self.daily)
        if not weekly:
            _normalize(self.weekly)
        self.fitted = 0
        return self.factor(end) / self._factor(end, daily, weekly)

    def learn_quiet(self, start: float, end: float, reference: float, window: float) -> None:
        """Windows from ``start`` to ``end`` held nothing: teach the hours they cover,
        a week of them at most (work does not grow with the length of a gap)."""
        if self.since is None:
            return
        first = int(start // HOUR)
        last = min(int((end - 1e-9) // HOUR), first + 168)
        for hour in range(first, last + 1):
            lo, hi = max(start, hour * HOUR), min(end, (hour + 1) * HOUR)
            if hi > lo:
                self.learn(lo, hi, 0.0, reference * (hi - lo) / window,
                           self.factor((lo + hi) / 2))
        self.until = end

    def _slot_week(self, hour: int) -> float:
        return self.weekly[(hour - MONDAY) % 168]

    def _flush(self) -> None:
        """Teach the factors of the hour accumulated so far."""
        hour, since = self.hour, self.since
        if hour is None or since is None or (self.observed <= 0.0 and self.acc_day <= 0.0):
            return
        age = hour * HOUR - since
        gamma = max(1.0 / (max(age, 0.0) // HOUR + 1), self.GAMMA_DAY / 24)
        self.hourly += gamma * (self.acc_day - self.hourly)
        predicted = self.acc_model
        fit = max(1.0 / (self.fitted + 1), 1.0 / 72)      # lately: the last three days
        self.excess += fit * ((self.observed - predicted) ** 2 - predicted - self.excess)
        self.scale += fit * (predicted * predicted - self.scale)
        self.fitted += 1
        gamma = max(1.0 / (max(age, 0.0) // DAY + 1), self.GAMMA_DAY)
        h = hour % 24
        seen = (self.observed + self.PRIOR) / (self.acc_day + self.PRIOR)
        self.daily[h] = round(self.daily[h] + gamma * (seen - self.daily[h]), 6)
        if self.daily_on:
            _normalize(self.daily)
        if self.daily_on:
            gamma = max(1.0 / (max(age - DAY, 0.0) // WEEK + 1), self.GAMMA_WEEK)
            k = (hour - MONDAY) % 168
            seen = (self.observed + self.PRIOR) / (self.acc_week + self.PRIOR)
            self.weekly[k] = round(self.weekly[k] + gamma * (seen - self.weekly[k]), 6)
            if self.weekly_on:
                _normalize(self.weekly)
        self.observed = self.acc_day = self.acc_week = self.acc_model = 0.0

    # -- persistence ----------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"daily": list(self.daily), "weekly": list(self.weekly), "since": self.since,
                "until": self.until, "hour": self.hour,
                "acc": [self.observed, self.acc_day, self.acc_week, self.acc_model],
                "lately": [self.hourly, self.excess, self.scale, self.fitted]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Profile:
        profile = cls()
        daily, weekly = [float(x) for x in data["daily"]], [float(x) for x in data["weekly"]]
        if len(daily) != 24 or len(weekly) != 168:
            raise ValueError("a profile has 24 daily and 168 weekly factors")
        profile.daily, profile.weekly = array("d", daily), array("d", weekly)
        since, hour = data["since"], data["hour"]
        profile.since = None if since is None else float(since)
        profile.until = float(data["until"])
        profile.hour = None if hour is None else int(hour)
        profile.observed, profile.acc_day, profile.acc_week, profile.acc_model = (
            float(x) for x in data["acc"])
        hourly, excess, scale, fitted = data["lately"]
        profile.hourly, profile.excess, profile.scale = float(hourly), float(excess), float(scale)
        profile.fitted = int(fitted)
        return profile


def _lerp(low: float, high: float, share: float, low_events: float,
          high_events: float) -> float:
    """Between two factors, each shrunk towards 1 by its noise: a factor ``f`` rests on
    ``events * f`` events, so its variance is ``1 / (events * f)``."""
    return 1.0 + _shrunk(low, low_events) * (1 - share) + _shrunk(high, high_events) * share


def _shrunk(factor: float, events: float) -> float:
    """How far from 1 a factor is used: about all of it when it stands far beyond two
    standard deviations of its noise, little of it within them."""
    gap = factor - 1.0
    if not gap:
        return 0.0
    noise = 4.0 / max(events * max(factor, Profile.FLOOR), 1e-9)
    return gap * gap * gap / (gap * gap + noise)


def _normalize(factors: array[float]) -> None:
    """Mean 1; each factor to 6 decimals (the saved state is exactly the live one)."""
    mean = sum(factors) / len(factors)
    if mean > 0.0:
        for i, value in enumerate(factors):
            factors[i] = round(value / mean, 6)

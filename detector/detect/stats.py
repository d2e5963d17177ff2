"""Count statistics: tail probabilities for Poisson and negative-binomial counts.

Error counts are small integers with long runs of zeros, often overdispersed
(bursty): a Gaussian score is wrong for them. The probability of seeing at least
``k`` events when ``mean`` were expected (with variance ``variance``) is the
score; it is computed by summing the distribution's terms from ``k`` upwards in
log space, which converges quickly because ``k`` is above the mean whenever it
is asked.
"""

from __future__ import annotations

import math

from river import stats

__all__ = ["EWMoments", "upper_tail"]

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
    """

    __slots__ = ("_mean", "_square", "fading")

    def __init__(self, fading: float, mean: float = 0.0, square: float = 0.0) -> None:
        self.fading = fading
        self._mean = stats.EWMean(fading_factor=fading)
        self._square = stats.EWMean(fading_factor=fading)
        self._mean.update(mean)
        self._square.update(square)

    def update(self, x: float) -> None:
        self._mean.update(x)
        self._square.update(x * x)

    def decay(self, n: int) -> None:
        """``n`` updates with zero, in constant time (a long quiet gap)."""
        keep = (1.0 - self.fading) ** n
        mean, square = self.mean * keep, self._square.get() * keep
        self._mean = stats.EWMean(fading_factor=self.fading)
        self._square = stats.EWMean(fading_factor=self.fading)
        self._mean.update(mean)
        self._square.update(square)

    @property
    def mean(self) -> float:
        return float(self._mean.get())

    @property
    def variance(self) -> float:
        """May dip just below zero by rounding, as river's ``EWVar`` does."""
        mean = self.mean
        return float(self._square.get()) - mean * mean

    def to_json(self) -> list[float]:
        return [self.mean, float(self._square.get())]

    @classmethod
    def from_json(cls, fading: float, data: list[float]) -> EWMoments:
        mean, square = data
        return cls(fading, float(mean), float(square))

"""Tail probabilities of counts, against direct summation."""

from __future__ import annotations

import math

import pytest

from detector.detect.stats import upper_tail


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

"""How long to wait before trying again: one rule for sources and notifications."""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["backoff"]


def backoff(attempts: int, base: float, cap: float,
            rng: Callable[[float, float], float] = random.uniform) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base · 2^attempts)).

    Full jitter spreads retries of many clients that failed together (AWS
    Architecture Blog, "Exponential Backoff And Jitter").
    """
    return rng(0.0, min(cap, base * (2 ** min(attempts, 30))))

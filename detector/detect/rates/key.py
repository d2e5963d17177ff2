"""What the rate detector keeps per (service, class): counts, baselines, profile, spike.

A key is JSON all the way down (``to_json``/``from_json``), so the state
directory holds versioned JSON and not pickled library objects. Its samples are
event texts, which the pipeline redacted before any detector saw them.

Memory per key is fixed by the configuration: the buckets of the last window, the
windows of the longest scale and of the learning lag, two pairs of moments, the
192 factors of the profile, three samples; ``held`` grows only while a spike is
open (at most ``MAX_HELD``), ``open`` only with events ahead of the watermark.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from detector.detect.stats import EWMoments, Profile, upper_tail

__all__ = ["BASELINE_FLOOR", "DISPERSION", "MAX_SPANS", "SHORT", "SLOW_HALF_LIFE", "Key",
           "Series", "Spike", "fading", "rescaled"]

SLOW_HALF_LIFE = 2 * 86400.0      # the slow level: the level of the last days

# Learned variance is noisy at low rates (for 0.1/min it sits just above the mean half
# the time): only clear overdispersion switches the score to a negative binomial.
DISPERSION = 1.5
MAX_SPANS = 8                     # recent spikes kept (does a class spike explain errors?)
BASELINE_FLOOR = 0.02             # events per window never assumed rarer than this
SHORT = 5                         # judged windows this short (in learning windows) also
                                  # follow the rate of the lag's older windows, if clearly
                                  # higher; they also decide when a spike is over
RECENT = 10                       # ... when there are this many of those windows
SLOW, LEVEL = -1.0, -2.0          # what an expectation rests on (else: a number of windows)


@dataclass
class Spike:
    start: float
    baseline: float               # the baseline (events per window) when it opened
    peak: int
    events: int
    quiet: int = 0                # consecutive buckets judged normal
    adapted: bool = False
    scale: int = 1                # the judged window that opened it, in learning windows


@dataclass
class Series:
    """What the report draws: per learning window, the count and the band."""

    start: list[float] = field(default_factory=list)
    count: list[int] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    threshold: list[float] = field(default_factory=list)


@dataclass
class Key:
    service: str
    cls: str
    created: float
    fading: float                                     # of the level
    slow_fading: float                                # of the slow level
    window_buckets: int
    scales: tuple[int, ...]                           # the longer judged windows, in windows
    closed_through: int                               # last closed bucket index
    moments: EWMoments = field(init=False)            # the level: deseasonalized windows
    slow: EWMoments = field(init=False)               # the same, over days
    profile: Profile = field(default_factory=Profile)
    learned: int = 0
    open: dict[int, int] = field(default_factory=dict)
    recent: deque[int] = field(init=False)            # the buckets of the last window
    window_sum: int = 0                               # events in the last window
    minutes: list[int] = field(init=False)            # the last longest-1 closed windows
    sums: list[int] = field(default_factory=list)     # per longer scale: its closed windows
    learning_count: int = 0                           # events in the current learning window
    spike: Spike | None = None
    held: list[int] = field(default_factory=list)
    held_start: float = 0.0                           # start of the first held window
    pending: list[int] = field(default_factory=list)  # windows waiting out the lag
    pending_sum: int = 0
    spans: list[tuple[float, float]] = field(default_factory=list)   # the last 8 spikes
    last_event: float = 0.0
    samples: deque[str] = field(default_factory=lambda: deque(maxlen=3))
    patterns: Counter[str] = field(default_factory=Counter)
    series: Series | None = None
    expect: tuple[int, list[float], list[float]] | None = None
    # (window index, per judged window: expected events per learning window, and what
    # that expectation rests on; see RateDetector._expected)

    def __post_init__(self) -> None:
        # Before its first event the key had none: start from that, not from the first
        # window (which always holds the event that created the key).
        self.moments = EWMoments(self.fading)
        self.slow = EWMoments(self.slow_fading)
        self.recent = deque([0] * self.window_buckets, maxlen=self.window_buckets)
        self.minutes = [0] * (max(self.scales, default=1) - 1)

    def spiking_at(self, when: float) -> bool:
        """Was a spike open at event time ``when`` (open now, or a recent closed one)?"""
        if self.spike is not None and self.spike.start <= when:
            return True
        return any(start <= when <= end for start, end in self.spans)

    def level(self) -> tuple[float, float]:
        """(deseasonalized events per window, how many windows it is worth): the recent
        level, or the level of the last days when that is higher (a quiet spell, a quiet
        weekend, is not the measure of what comes after it)."""
        moments, slow = self.moments, self.slow
        recent, usual = max(moments.mean, 0.0), max(slow.mean, 0.0)
        if recent >= usual:
            return recent, moments.effective
        return usual, slow.effective

    def dispersion(self) -> float:
        """Variance over mean of the learned windows, when clearly overdispersed; else 1."""
        mean = self.moments.mean
        var = self.moments.variance
        return var / mean if mean > 0.0 and var > DISPERSION * mean else 1.0

    def resum(self) -> None:
        """The sums of the longer judged windows, from ``minutes``."""
        minutes = self.minutes
        self.sums = [sum(minutes[len(minutes) - (scale - 1):]) for scale in self.scales]

    def expected(self, window: int, size: float) -> tuple[list[float], list[float]]:
        """While learning window ``window`` is open, for each judged window (the learning
        window first): the events expected per learning window, and what that rests on
        (``SLOW``, ``LEVEL``, or a number of windows); learning windows are ``size`` seconds.

        The expectation is the slow level times the seasonal factor of the middle of the
        judged window (what this hour usually looks like); when today's level is clearly
        higher, the higher of that level as it was at the learning frontier (today's
        behaviour) and that level times the factor. A profile can so raise the baseline
        above today's behaviour, never lower it below: a day that was not like the others
        (a ramp, an incident that became the new level) does not make the next one look
        like trouble.
        """
        key = self
        cached = key.expect
        if cached is not None and cached[0] == window:
            return cached[1], cached[2]
        moments, slow = key.moments, key.slow
        level, usual = max(moments.mean, 0.0), max(slow.mean, 0.0)
        end = (window + 1) * size
        profile = key.profile
        seasonal = profile.daily_on
        factor = profile.factor
        frontier = factor(profile.until - size / 2) if seasonal else 1.0
        # The lag's older windows, if their rate is clearly above the expectation: a rise
        # too slow to be trouble, which the short windows should not take for one.
        recent = 0.0
        pending = key.pending
        older = len(pending) - SHORT
        if older >= RECENT:
            recent = (key.pending_sum - sum(pending[older:])) / older
        # The level of the last days, unless today's is clearly higher.
        today = (level > usual and (level - usual) * math.sqrt(
            moments.effective / max(usual, BASELINE_FLOOR)) > 2)
        expected, sources = [], []
        for scale in (1, *self.scales):
            now = factor(end - scale * size / 2) if seasonal else 1.0
            mine, source = usual * now, SLOW
            if today and level * max(now, frontier) > mine:
                mine, source = level * max(now, frontier), LEVEL
            if (scale <= SHORT and recent > mine
                    and (recent - mine) * math.sqrt(older / max(mine, BASELINE_FLOOR)) > 3.0):
                mine, source = recent, float(older)
            expected.append(mine)
            sources.append(source)
        key.expect = (window, expected, sources)
        return expected, sources

    def window(self, index: int, i: int) -> tuple[int, float]:
        """(events, length in learning windows) of judged window ``i`` that ends with
        bucket ``index``: the last learning window, slid bucket by bucket (``i`` 0), or
        the open learning window and the ``scales[i - 1] - 1`` closed ones before it."""
        if i == 0:
            return self.window_sum, 1.0
        done = index % self.window_buckets + 1
        return (self.sums[i - 1] + self.learning_count,
                self.scales[i - 1] - 1 + done / self.window_buckets)

    def tail(self, observed: int, expected: float, i: int, source: float) -> float:
        """P(at least ``observed``) in judged window ``i`` under its baseline: bursty
        counts, a baseline that rests on few windows (``source``: see ``expected``), and
        hours that the model has lately mispredicted widen it (a negative binomial)."""
        scale = self.scales[i - 1] if i else 1
        effective = (self.slow.effective if source == SLOW else
                     self.moments.effective if source == LEVEL else source)
        spread = (self.dispersion() + (scale / effective if effective > 0 else 1e9)
                  + self.profile.misfit * expected)
        return float(upper_tail(observed, expected,
                                expected * spread if spread > 1.01 else None))

    def baseline(self) -> tuple[float, float | None]:
        """(expected events per window, variance if clearly overdispersed, else None),
        without the seasonal factor."""
        if self.learned == 0:
            return 0.0, None
        mean = self.level()[0]
        dispersion = self.dispersion()
        return mean, dispersion * mean if dispersion > 1.0 else None

    # -- persistence ----------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        spike = self.spike
        return {
            "service": self.service, "class": self.cls, "created": self.created,
            "window_buckets": self.window_buckets, "closed_through": self.closed_through,
            "moments": self.moments.to_json(), "slow": self.slow.to_json(),
            "learned": self.learned, "profile": self.profile.to_json(),
            "open": [[index, count] for index, count in self.open.items()],
            "recent": list(self.recent), "minutes": list(self.minutes),
            "learning_count": self.learning_count,
            "spike": None if spike is None else {
                "start": spike.start, "baseline": spike.baseline, "peak": spike.peak,
                "events": spike.events, "quiet": spike.quiet, "adapted": spike.adapted,
                "scale": spike.scale},
            "held": self.held, "held_start": self.held_start, "pending": list(self.pending),
            "spans": [list(span) for span in self.spans], "last_event": self.last_event,
            "samples": list(self.samples), "patterns": dict(self.patterns),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], fading: float, slow_fading: float,
                  window_buckets: int, scales: tuple[int, ...], *, whole: bool = True) -> Key:
        """A saved key (version 2, or version 1 without its slow level, profile and
        longer windows). Not ``whole`` (saved with another bucket or window length):
        only its baselines and profile are kept, as the caller scaled them; its windows
        start empty."""
        key = cls(service=data["service"], cls=data["class"], created=data["created"],
                  fading=fading, slow_fading=slow_fading, window_buckets=window_buckets,
                  scales=scales, closed_through=data["closed_through"])
        key.learned = int(data["learned"])
        key.moments = EWMoments.from_json(fading, data["moments"], key.learned)
        if "slow" in data:
            key.slow = EWMoments.from_json(slow_fading, data["slow"], key.learned)
            key.profile = Profile.from_json(data["profile"])
        else:                      # version 1: the slow level starts where the level is
            mean, square = key.moments.mean, key.moments.variance + key.moments.mean ** 2
            key.slow = EWMoments(slow_fading, n=key.learned)
            weight = key.slow.weight
            key.slow = EWMoments(slow_fading, mean * weight, square * weight, key.learned)
        key.last_event = data["last_event"]
        key.samples.extend(data["samples"])
        key.patterns.update(data["patterns"])
        key.spans.extend((start, end) for start, end in data["spans"][-MAX_SPANS:])
        if not whole:
            return key
        key.open = {int(index): int(count) for index, count in data["open"]}
        key.recent.extend(data["recent"][-window_buckets:])
        key.window_sum = sum(key.recent)
        minutes = [int(n) for n in data.get("minutes", ())][-len(key.minutes):]
        if key.minutes:
            key.minutes[len(key.minutes) - len(minutes):] = minutes
        key.learning_count = data["learning_count"]
        saved = data["spike"]
        key.spike = None if saved is None else Spike(**saved)
        key.held = list(data["held"])
        key.held_start = float(data.get("held_start", 0.0))
        key.pending.extend(data["pending"])
        key.pending_sum = sum(key.pending)
        return key


def fading(window: float, half_life: float) -> float:
    """The weight of each new window in an exponentially weighted mean of this half-life."""
    return float(1.0 - 0.5 ** (window / half_life))


def rescaled(saved: dict[str, Any], window: float, size: float, bucket: float,
         half_lives: dict[str, float]) -> dict[str, Any]:
    """A key saved with learning windows of ``window`` seconds, in windows of ``size``
    seconds and buckets of ``bucket``: the same baselines per second, learned over the
    same time (``half_lives``: of each saved pair of moments)."""
    scale = size / window
    learned = int(saved["learned"])
    now = round(learned / scale)
    end = (saved["closed_through"] + 1) * (window / saved["window_buckets"])
    rescaled = {**saved, "closed_through": int(end // bucket) - 1, "learned": now}
    for name, half_life in half_lives.items():
        if name not in saved:
            continue
        old = EWMoments.from_json(fading(window, half_life), saved[name], learned)
        new = EWMoments(fading(size, half_life), n=now)
        weight = new.weight
        mean, square = old.mean, old.variance + old.mean ** 2
        rescaled[name] = [mean * scale * weight, square * scale * scale * weight]
    return rescaled

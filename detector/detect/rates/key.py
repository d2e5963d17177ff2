"""What the rate detector keeps per (service, class): counts, baseline, open spike.

A key is JSON all the way down (``to_json``/``from_json``), so the state
directory holds versioned JSON and not pickled library objects. Its samples are
event texts, which the pipeline redacted before any detector saw them.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from detector.detect.stats import EWMoments

__all__ = ["DISPERSION", "Key", "Series", "Spike"]

# Learned variance is noisy at low rates (for 0.1/min it sits just above the mean half
# the time): only clear overdispersion switches the score to a negative binomial.
DISPERSION = 1.5


@dataclass
class Spike:
    start: float
    baseline: float               # the baseline (events per window) when it opened
    peak: int
    events: int
    quiet: int = 0                # consecutive buckets judged normal
    adapted: bool = False


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
    fading: float
    window_buckets: int
    closed_through: int                               # last closed bucket index
    moments: EWMoments = field(init=False)
    learned: int = 0
    open: dict[int, int] = field(default_factory=dict)
    recent: deque[int] = field(init=False)            # the last two windows of buckets
    window_sum: int = 0                               # events in the last window
    long_sum: int = 0                                 # events in the last two windows
    learning_count: int = 0                           # events in the current learning window
    spike: Spike | None = None
    held: list[int] = field(default_factory=list)
    pending: deque[int] = field(default_factory=deque)   # windows waiting out the lag
    spans: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=8))
    last_event: float = 0.0
    samples: deque[str] = field(default_factory=lambda: deque(maxlen=3))
    patterns: Counter[str] = field(default_factory=Counter)
    series: Series | None = None

    def __post_init__(self) -> None:
        # Before its first event the key had none: start from that, not from the first
        # window (which always holds the event that created the key).
        self.moments = EWMoments(self.fading)
        self.recent = deque([0] * 2 * self.window_buckets, maxlen=2 * self.window_buckets)

    def spiking_at(self, when: float) -> bool:
        """Was a spike open at event time ``when`` (open now, or a recent closed one)?"""
        if self.spike is not None and self.spike.start <= when:
            return True
        return any(start <= when <= end for start, end in self.spans)

    def baseline(self) -> tuple[float, float | None]:
        """(expected events per window, variance if clearly overdispersed, else None)."""
        if self.learned == 0:
            return 0.0, None
        mean = max(self.moments.mean, 0.0)
        var = self.moments.variance
        return mean, var if var > DISPERSION * mean else None

    # -- persistence ----------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        spike = self.spike
        return {
            "service": self.service, "class": self.cls, "created": self.created,
            "window_buckets": self.window_buckets, "closed_through": self.closed_through,
            "moments": self.moments.to_json(), "learned": self.learned,
            "open": [[index, count] for index, count in self.open.items()],
            "recent": list(self.recent), "learning_count": self.learning_count,
            "spike": None if spike is None else {
                "start": spike.start, "baseline": spike.baseline, "peak": spike.peak,
                "events": spike.events, "quiet": spike.quiet, "adapted": spike.adapted},
            "held": self.held, "pending": list(self.pending),
            "spans": [list(span) for span in self.spans], "last_event": self.last_event,
            "samples": list(self.samples), "patterns": dict(self.patterns),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], fading: float, window_buckets: int, *,
                  whole: bool = True) -> Key:
        """A saved key. Not ``whole`` (saved with another bucket or window length): only
        its baseline is kept, as the caller scaled it; its windows start empty."""
        key = cls(service=data["service"], cls=data["class"], created=data["created"],
                  fading=fading, window_buckets=window_buckets,
                  closed_through=data["closed_through"])
        key.moments = EWMoments.from_json(fading, data["moments"])
        key.learned = data["learned"]
        key.last_event = data["last_event"]
        key.samples.extend(data["samples"])
        key.patterns.update(data["patterns"])
        key.spans.extend((start, end) for start, end in data["spans"])
        if not whole:
            return key
        key.open = {int(index): int(count) for index, count in data["open"]}
        key.recent.extend(data["recent"])
        key.window_sum = sum(list(key.recent)[-window_buckets:])
        key.long_sum = sum(key.recent)
        key.learning_count = data["learning_count"]
        saved = data["spike"]
        key.spike = None if saved is None else Spike(**saved)
        key.held = list(data["held"])
        key.pending.extend(data["pending"])
        return key

"""Rate spikes: the normal rate of each kind of trouble, learned online, and departures.

Per (service, class) and per service for all error-level events (class
``error_rate``), events are counted in event-time buckets (``bucket``, 10 s). The
last ``rate_window`` of buckets (60 s) is the window that is judged, each time a
bucket closes; the baseline is learned from consecutive windows with river's
exponentially weighted mean and variance (``rate_half_life``).

A window is a spike when, after a grace period, it holds at least
``rate_min_count`` events, at least ``rate_min_ratio`` times the baseline, and
the probability of at least that many under the baseline is below
``rate_sensitivity`` (Poisson, or negative binomial when the learned variance
says the counts are bursty). While a spike is open its windows are held back
from learning, so the baseline is not taught the spike; a spike that lasts longer
than ``rate_adapt_after`` is a new level, and is learned. The spike resolves after
a full window that is no longer significantly high.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from river import stats

from detector.config import DetectConfig
from detector.detect.stats import upper_tail
from detector.incidents import IncidentTracker
from detector.match.engine import Match
from detector.model import ERROR, Event

__all__ = ["ERROR_RATE", "RateDetector", "Series"]

ERROR_RATE = "error_rate"
QUIET_P = 0.01                    # a window this likely under the baseline is "normal again"
QUIET_WINDOWS = 3                 # normal for this many windows: the spike is over
# Learned variance is noisy at low rates (for 0.1/min it sits just above the mean half
# the time): only clear overdispersion switches the score to a negative binomial.
DISPERSION = 1.5
# A window is learned only this many windows after it ends: if a spike opens in the
# meantime, the windows of its onset are held back with it instead of taught.
LEARNING_LAG = 3
BASELINE_FLOOR = 0.02             # events per window never assumed rarer than this
KEY_EXPIRY = 7 * 86400.0          # a key with no event for this long is forgotten
MAX_HELD = 4096
LABELS = {ERROR_RATE: "Error", "version_conflict": "Version-conflict",
          "lock_timeout": "Lock-timeout", "deadlock": "Deadlock",
          "rate_limited": "HTTP 418/429", "task_leak": "Task-leak",
          "dependency_down": "Dependency-failure", "auth_failure": "Auth-failure",
          "schema_mismatch": "Schema-mismatch", "tenancy_violation": "Tenancy-violation",
          "resource_exhaustion": "Resource-exhaustion", "server_error": "HTTP 5xx",
          "startup_failure": "Startup-failure", "upstream_timeout": "Upstream-timeout",
          "stream_disconnect": "Stream-disconnect", "unhandled_exception": "Exception"}
ERROR_RATE_RUNBOOK = {
    "title": "More errors than usual",
    "steps": ["Look at the samples and at the signature incidents open for the same service: "
              "they usually name the cause.",
              "Check what changed when the rate rose: a deploy (`git log --oneline -10`), a "
              "dependency, traffic.",
              "If it started with a deploy, roll back; if a dependency is failing, follow its "
              "runbook."]}


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
    mean: stats.EWMean = field(init=False)
    var: stats.EWVar = field(init=False)
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
        self.mean = stats.EWMean(fading_factor=self.fading)
        self.var = stats.EWVar(fading_factor=self.fading)
        # Before its first event the key had none: start from that, not from the first
        # window (which always holds the event that created the key).
        self.mean.update(0.0)
        self.var.update(0.0)
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
        mean = max(self.mean.get(), 0.0)
        var = self.var.get()          # EWVar = EW(x²) − EW(x)²: may dip below zero
        return mean, var if var > DISPERSION * mean else None


class RateDetector:
    """Learns rates and opens, updates and resolves ``rate_spike`` incidents."""

    def __init__(self, config: DetectConfig, tracker: IncidentTracker,
                 emit: Callable[[list[dict[str, Any]]], None],
                 runbooks: dict[str, dict[str, Any]] | None = None, *,
                 record_series: bool = False) -> None:
        self.config = config
        self.tracker = tracker
        self.emit = emit
        self.runbooks = runbooks or {}
        self.record_series = record_series
        self.bucket = config.bucket
        self.window_buckets = max(1, round(config.rate_window / config.bucket))
        self.window_seconds = self.window_buckets * self.bucket
        self.fading = 1.0 - 0.5 ** (self.window_seconds / config.rate_half_life)
        self.grace_windows = math.ceil(config.rate_grace / self.window_seconds)
        self.keys: dict[tuple[str, str], Key] = {}
        self.services: dict[str, float] = {}          # service → first time seen
        self.prior_windows = 4 * math.ceil(config.rate_half_life / self.window_seconds)
        self.late = 0
        self.spikes = 0

    # -- counting (the hot path: a couple of dict operations per error event) ---------
    def seen(self, service: str, when: float) -> None:
        """A service exists since ``when`` (its source said so, or one of its events)."""
        first = self.services.get(service)
        if first is None or when < first:
            self.services[service] = when

    def observe(self, event: Event, match: Match | None, when: float) -> None:
        self.seen(event.service, when)
        sample = event.text[:2000]
        if match is not None:
            self.count(event.service, match.pattern.cls, when, sample=sample,
                       pattern=match.pattern.id)
        if event.level >= ERROR:
            self.count(event.service, ERROR_RATE, when, sample=sample)

    def count(self, service: str, cls: str, when: float, n: int = 1, *,
              sample: str | None = None, pattern: str | None = None) -> None:
        """``n`` events of ``cls`` in ``service`` at event time ``when``."""
        index = int(when // self.bucket)
        key = self.keys.get((service, cls))
        if key is None:
            key = self._new_key(service, cls, when, index)
        if index <= key.closed_through:
            self.late += n
            return
        key.open[index] = key.open.get(index, 0) + n
        if when > key.last_event:
            key.last_event = when
        if sample is not None:
            key.samples.append(sample)
        if pattern is not None:
            key.patterns[pattern] += n

    def _new_key(self, service: str, cls: str, when: float, index: int) -> Key:
        if len(self.keys) >= self.config.rate_max_keys:
            self._evict()
        key = Key(service=service, cls=cls, created=when, fading=self.fading,
                  window_buckets=self.window_buckets,
                  closed_through=index - index % self.window_buckets - 1)
        # The service ran before this kind of trouble first showed: those windows had
        # none of it. Learn them (at most a few half-lives' worth) as zeros.
        quiet = int((key.closed_through + 1) * self.bucket - self.services.get(service, when))
        for _ in range(min(quiet // int(self.window_seconds), self.prior_windows)):
            key.mean.update(0.0)
            key.var.update(0.0)
            key.learned += 1
        if self.record_series:
            key.series = Series()
        self.keys[(service, cls)] = key
        return key

    def _evict(self) -> None:
        idle = [k for k in self.keys.values() if k.spike is None]
        victim = min(idle or self.keys.values(), key=lambda k: k.last_event)
        del self.keys[(victim.service, victim.cls)]

    # -- time ---------------------------------------------------------------------------
    def advance(self, watermark: float) -> None:
        """Close every bucket that ends at or before ``watermark``.

        Class keys go first, so that the error-rate key of a service knows which of
        its class spikes covered each bucket (a spike of lock timeouts is not also
        reported as a spike of errors).
        """
        target = int(watermark // self.bucket) - 1
        expired = []
        ordered = sorted(self.keys.items(), key=lambda item: item[0][1] == ERROR_RATE)
        for name, key in ordered:
            if key.closed_through < target:
                self._close_through(key, target)
            if key.spike is None and watermark - key.last_event > KEY_EXPIRY:
                expired.append(name)
        for name in expired:
            del self.keys[name]

    def _close_through(self, key: Key, target: int) -> None:
        while key.closed_through < target:
            index = key.closed_through + 1
            if (key.spike is None and key.long_sum == 0
                    and not any(i <= target for i in key.open)):
                self._skip_quiet(key, target)
                return
            self._close_bucket(key, index, key.open.pop(index, 0))

    def _skip_quiet(self, key: Key, target: int) -> None:
        """Buckets ``closed_through+1 .. target`` are all empty: learn them in bulk."""
        w = self.window_buckets
        first = key.closed_through + 1
        # The sliding windows are already all zeros (long_sum == 0). Learn the learning
        # window `first` falls in, then every whole window up to target.
        window_end = first - first % w + w - 1
        while window_end <= target:
            self._learn(key, key.learning_count, (window_end + 1 - w) * self.bucket)
            key.learning_count = 0
            window_end += w
        key.closed_through = target

    def _close_bucket(self, key: Key, index: int, count: int) -> None:
        recent = key.recent
        key.long_sum += count - recent[0]
        key.window_sum += count - recent[-self.window_buckets]
        recent.append(count)
        key.learning_count += count
        key.closed_through = index
        self._judge(key, index, count)
        if index % self.window_buckets == self.window_buckets - 1:
            start = (index + 1 - self.window_buckets) * self.bucket
            self._learn(key, key.learning_count, start)
            key.learning_count = 0

    def _learn(self, key: Key, count: int, start: float) -> None:
        if key.series is not None:
            self._record(key, count, start)
        spike = key.spike
        if spike is not None and not spike.adapted:
            if len(key.held) < MAX_HELD:
                key.held.append(count)
            return
        key.pending.append(count)
        if len(key.pending) > LEARNING_LAG:
            settled = float(key.pending.popleft())
            key.mean.update(settled)
            key.var.update(settled)
            key.learned += 1

    def _record(self, key: Key, count: int, start: float) -> None:
        series = key.series
        assert series is not None
        mean, var = key.baseline()
        series.start.append(start)
        series.count.append(count)
        series.baseline.append(mean if key.learned else math.nan)
        series.threshold.append(self.threshold(mean, var) if key.learned >= self.grace_windows
                                else math.nan)

    # -- verdicts -------------------------------------------------------------------------
    def threshold(self, mean: float, var: float | None) -> float:
        """The smallest window count that would open a spike under this baseline."""
        base = max(mean, BASELINE_FLOOR)
        n = max(self.config.rate_min_count, math.ceil(self.config.rate_min_ratio * base))
        for _ in range(100_000):
            if upper_tail(n, base, var) < self.config.rate_sensitivity:
                return float(n)
            n += max(1, n // 50)
        return float(n)

    def _improbable(self, observed: int, windows: int, mean: float, var: float | None) -> bool:
        """Is ``observed`` over ``windows`` windows a spike against this baseline?"""
        config = self.config
        if observed < config.rate_min_count:
            return False
        base = max(mean, BASELINE_FLOOR) * windows
        if observed < config.rate_min_ratio * base:
            return False
        spread = var * windows if var is not None else None
        return upper_tail(observed, base, spread) < config.rate_sensitivity

    def _judge(self, key: Key, index: int, count: int) -> None:
        """Judge the last window, and the last two windows together (more evidence for
        slower bursts), each time a bucket closes."""
        end = (index + 1) * self.bucket
        spike = key.spike
        if spike is None:
            if key.long_sum < self.config.rate_min_count or key.learned < self.grace_windows:
                return
            mean, var = key.baseline()
            short = self._improbable(key.window_sum, 1, mean, var)
            if not short and not self._improbable(key.long_sum, 2, mean, var):
                return
            if key.cls == ERROR_RATE and self._explained(key.service, end):
                return
            span = 1 if short else 2
            observed = key.window_sum if short else key.long_sum
            key.spike = Spike(start=end - span * self.window_seconds, baseline=mean,
                              peak=key.window_sum, events=observed)
            key.held.extend(key.pending)      # the onset is part of the spike
            key.pending.clear()
            self.spikes += 1
            self._notify(key, end, observed / span, observed)
            return
        observed = key.window_sum
        spike.peak = max(spike.peak, observed)
        spike.events += count
        mean, var = key.baseline()
        base = max(mean, BASELINE_FLOOR)
        # Back to normal: near the baseline, or no longer improbable under it. (The
        # minimum count only gates opening: 3/min against 0.04/min is still a spike.)
        normal = observed < 1.5 * base or upper_tail(observed, base, var) >= QUIET_P
        if not spike.adapted and end - spike.start >= self.config.rate_adapt_after:
            spike.adapted = True          # a lasting new level: learn it
            for held in key.held:
                key.mean.update(float(held))
                key.var.update(float(held))
                key.learned += 1
            key.held.clear()
        if normal:
            spike.quiet += 1
            if spike.quiet >= QUIET_WINDOWS * self.window_buckets:
                self._close(key, end)
            return
        spike.quiet = 0
        if count:
            self._notify(key, end, observed, count)

    def _notify(self, key: Key, when: float, per_window: float, add: int) -> None:
        spike = key.spike
        assert spike is not None
        per_minute = 60.0 / self.window_seconds
        rate = per_window * per_minute
        baseline = max(spike.baseline, 0.0) * per_minute
        ratio = per_window / max(spike.baseline, BASELINE_FLOOR)
        label = LABELS.get(key.cls, key.cls.replace("_", " ").capitalize())
        usual = (f"baseline {baseline:.2g}/min ({ratio:.0f}×)" if baseline >= 0.01
                 else "baseline under 0.01/min")
        summary = f"{label} rate in {key.service}: {rate:.3g}/min, {usual}"
        pattern = key.patterns.most_common(1)[0][0] if key.patterns else None
        runbook = (self.runbooks.get(pattern) if pattern else None) or (
            ERROR_RATE_RUNBOOK if key.cls == ERROR_RATE else self.runbooks.get(key.cls))
        self.emit(self.tracker.observe(
            kind="rate_spike", cls=key.cls, service=key.service, key={},
            severity="error" if ratio >= 10 else "warning", summary=summary,
            sample=key.samples[-1] if key.samples else summary, when=when, pattern=pattern,
            fields={"rate_per_min": f"{rate:.3g}", "baseline_per_min": f"{baseline:.2g}",
                    "ratio": f"{ratio:.1f}"},
            runbook=runbook, add=add,
            detail={"peak": spike.peak}))

    def _explained(self, service: str, when: float) -> bool:
        """Is a class spike of this service open at ``when``?"""
        return any(key.service == service and key.cls != ERROR_RATE and key.spiking_at(when)
                   for key in self.keys.values())

    def _close(self, key: Key, when: float) -> None:
        spike = key.spike
        key.spike = None
        key.held.clear()                   # the spike is not the baseline
        if spike is not None:
            key.spans.append((spike.start, when))
            self.emit(self.tracker.close("rate_spike", key.cls, key.service, {}, when))

    # -- persistence ------------------------------------------------------------------------
    def snapshot(self) -> list[Key]:
        return list(self.keys.values())

    def restore(self, keys: Iterable[Key]) -> None:
        for key in keys:
            key.series = Series() if self.record_series else None
            self.keys[(key.service, key.cls)] = key

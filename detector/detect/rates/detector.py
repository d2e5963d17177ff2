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
from collections.abc import Sequence
from typing import Any

from detector.config import DetectConfig
from detector.detect.rates.key import Key, Series, Spike
from detector.detect.stats import upper_tail
from detector.errors import StateError
from detector.incidents import Finding, Occurrence, Resolution
from detector.match.engine import Match
from detector.model import ERROR, Event, Kind, RunbookJSON, Severity

__all__ = ["ERROR_RATE", "KEY_EXPIRY", "RateDetector"]

ERROR_RATE = "error_rate"
SNAPSHOT_VERSION = 1
QUIET_P = 0.01                    # a window this likely under the baseline is "normal again"
QUIET_WINDOWS = 3                 # normal for this many windows: the spike is over
# A window is learned only this many windows after it ends: if a spike opens in the
# meantime, the windows of its onset are held back with it instead of taught.
LEARNING_LAG = 3
BASELINE_FLOOR = 0.02             # events per window never assumed rarer than this
KEY_EXPIRY = 7 * 86400.0          # a key with no event for this long is forgotten
MAX_HELD = 4096
MAX_SERIES = 100_000              # report points per key (a replay over years stays bounded)
LABELS = {ERROR_RATE: "Error", "version_conflict": "Version-conflict",
          "lock_timeout": "Lock-timeout", "deadlock": "Deadlock",
          "rate_limited": "HTTP 418/429", "task_leak": "Task-leak",
          "dependency_down": "Dependency-failure", "auth_failure": "Auth-failure",
          "schema_mismatch": "Schema-mismatch", "tenancy_violation": "Tenancy-violation",
          "resource_exhaustion": "Resource-exhaustion", "server_error": "HTTP 5xx",
          "startup_failure": "Startup-failure", "upstream_timeout": "Upstream-timeout",
          "stream_disconnect": "Stream-disconnect", "unhandled_exception": "Exception"}
ERROR_RATE_RUNBOOK: RunbookJSON = {
    "title": "More errors than usual",
    "steps": ["Look at the samples and at the signature incidents open for the same service: "
              "they usually name the cause.",
              "Check what changed when the rate rose: a deploy (`git log --oneline -10`), a "
              "dependency, traffic.",
              "If it started with a deploy, roll back; if a dependency is failing, follow its "
              "runbook."]}


class RateDetector:
    """Learns rates and opens, updates and resolves ``rate_spike`` incidents."""

    name = "rates"

    def __init__(self, config: DetectConfig, *, record_series: bool = False) -> None:
        self.config = config
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
        self._found: list[Finding] = []

    # -- counting (the hot path: a couple of dict operations per error event) ---------
    def seen(self, service: str, when: float) -> None:
        """A service exists since ``when`` (its source said so, or one of its events)."""
        first = self.services.get(service)
        if first is None or when < first:
            self.services[service] = when

    def observe(self, event: Event, match: Match | None, when: float) -> Sequence[Finding]:
        """Count the event; verdicts come when its buckets close (``advance``)."""
        self.seen(event.service, when)
        sample = event.text[:2000]
        if match is not None:
            self.count(event.service, match.pattern.cls, when, sample=sample,
                       pattern=match.pattern.id)
        if event.level >= ERROR:
            self.count(event.service, ERROR_RATE, when, sample=sample)
        return ()

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
        prior = min(quiet // int(self.window_seconds), self.prior_windows)
        if prior > 0:
            key.moments.decay(prior)
            key.learned += prior
        if self.record_series:
            key.series = Series()
        self.keys[(service, cls)] = key
        return key

    def _evict(self) -> None:
        idle = [k for k in self.keys.values() if k.spike is None]
        victim = min(idle or self.keys.values(), key=lambda k: k.last_event)
        del self.keys[(victim.service, victim.cls)]

    # -- time ---------------------------------------------------------------------------
    def advance(self, watermark: float) -> Sequence[Finding]:
        """Close every bucket that ends at or before ``watermark``; the verdicts.

        Class keys go first, so that the error-rate key of a service knows which of
        its class spikes covered each bucket (a spike of lock timeouts is not also
        reported as a spike of errors). Work grows with the number of buckets that
        held events, never with the length of a quiet gap.
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
        found, self._found = self._found, []
        return found

    def _close_through(self, key: Key, target: int) -> None:
        """Close buckets one by one while anything is in the sliding windows or a spike
        is open; jump over the quiet stretch up to the next bucket that holds events."""
        while key.closed_through < target:
            index = key.closed_through + 1
            if key.spike is None and key.long_sum == 0:
                quiet_through = min(min(key.open, default=target + 1) - 1, target)
                if quiet_through > key.closed_through:
                    self._skip_quiet(key, quiet_through)
                    continue
            self._close_bucket(key, index, key.open.pop(index, 0))

    def _skip_quiet(self, key: Key, target: int) -> None:
        """Buckets ``closed_through+1 .. target`` are all empty: learn them in bulk.

        The sliding windows are already all zeros (``long_sum == 0``). The learning
        window ``closed_through+1`` falls in is learned with what it holds, then every
        whole window up to ``target`` as a zero: one by one while they still push held
        values through the learning lag, then all the rest at once.
        """
        w = self.window_buckets
        first = key.closed_through + 1
        window_end = first - first % w + w - 1
        if window_end <= target:
            self._learn(key, key.learning_count, (window_end + 1 - w) * self.bucket)
            key.learning_count = 0
            zeros = (target - window_end) // w
            stepwise = zeros if key.series is not None else min(zeros, LEARNING_LAG + 1)
            stepwise = min(stepwise, MAX_SERIES)
            for step in range(1, stepwise + 1):
                self._learn(key, 0, (window_end + 1 + (step - 1) * w) * self.bucket)
            rest = zeros - stepwise
            if rest > 0:
                key.moments.decay(rest)
                key.learned += rest
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
            key.moments.update(float(key.pending.popleft()))
            key.learned += 1

    def _record(self, key: Key, count: int, start: float) -> None:
        series = key.series
        assert series is not None
        if len(series.start) >= MAX_SERIES:
            return
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
                key.moments.update(float(held))
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
        # A class's spike takes the runbook of its most frequent pattern (the pipeline's
        # Runbooks chooses it); the error rate has its own.
        runbook = ERROR_RATE_RUNBOOK if key.cls == ERROR_RATE else None
        self._found.append(Occurrence(
            kind=Kind.RATE_SPIKE, cls=key.cls, service=key.service, key={},
            severity=Severity.ERROR if ratio >= 10 else Severity.WARNING, summary=summary,
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
            self._found.append(Resolution(Kind.RATE_SPIKE, key.cls, key.service, {}, when))

    # -- persistence ------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {"version": SNAPSHOT_VERSION, "bucket": self.bucket,
                "window_buckets": self.window_buckets, "services": self.services,
                "keys": [k.to_json() for k in self.keys.values()]}

    def restore(self, data: dict[str, Any]) -> None:
        """Keys from :meth:`snapshot`. Saved under another ``bucket`` or ``rate_window``,
        each key keeps its baseline (rescaled to the new window) and starts its windows
        afresh."""
        if data.get("version") != SNAPSHOT_VERSION:
            raise StateError(f"rates: unknown snapshot version {data.get('version')!r}")
        try:
            bucket = float(data["bucket"])
            whole = bucket == self.bucket and data["window_buckets"] == self.window_buckets
            scale = self.window_seconds / (bucket * data["window_buckets"])
            keys = []
            for saved in data["keys"]:
                if not whole:
                    end = (saved["closed_through"] + 1) * bucket
                    mean, square = saved["moments"]
                    saved = {**saved, "closed_through": int(end // self.bucket) - 1,
                             "moments": [mean * scale, square * scale * scale]}
                keys.append(Key.from_json(saved, self.fading, self.window_buckets,
                                          whole=whole))
            services = {str(s): float(t) for s, t in data["services"].items()}
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            raise StateError(f"rates: {exc!r}") from None
        self.services.update(services)
        for key in keys:
            key.series = Series() if self.record_series else None
            self.keys[(key.service, key.cls)] = key

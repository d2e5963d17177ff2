"""Rate spikes: the normal rate of each kind of trouble, learned online, and departures.

Per (service, class) and per service for all error-level events (class
``error_rate``), events are counted in event-time buckets (``bucket``, 10 s) and
learning windows (``rate_window``, 1 min). Several windows are judged at once, each
time a bucket with events closes: the last learning window, slid bucket by bucket, and
the windows of ``rate_scales`` (5, 10 and 30 minutes) that end with that bucket.

A learning window is learned once it is as old as the longest judged window (a slow
rise is never compared with itself): divided by the key's seasonal factor (its daily
and weekly ``Profile``), into the level (river's exponentially weighted mean and
variance, ``rate_half_life``) and the slow level (half-life two days). What each
judged window is expected to hold is ``Key.expected``.

A window is a spike when, after a grace period, it holds at least ``rate_min_count``
events, at least ``rate_min_ratio`` times its baseline (the learning window alone:
``SHARP`` times that), and the probability of at least that many is below
``rate_sensitivity`` times its length in learning windows (Poisson, or negative binomial
when the counts are bursty, the baseline rests on few windows or the model has lately
mispredicted the hours). While a spike is open its windows, and those still waiting out
the lag, are held back from learning; a spike that lasts longer than
``rate_adapt_after`` is a new level, and is learned. It resolves once the judged windows
up to its own (and up to ``SHORT``) have not been high for three learning windows; the
longer windows then count its windows as usual ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from detector.config import DetectConfig
from detector.detect.rates.key import (
    BASELINE_FLOOR,
    MAX_SPANS,
    SHORT,
    SLOW_HALF_LIFE,
    Key,
    Series,
    Spike,
    fading,
)
from detector.detect.rates.persistence import RatePersistence
from detector.detect.rates.wording import ERROR_RATE, ERROR_RATE_RUNBOOK, spike_summary
from detector.detect.stats import upper_tail
from detector.incidents import Finding, Occurrence, Resolution
from detector.match.engine import Match
from detector.model import ERROR, Event, Kind, Severity

__all__ = ["ERROR_RATE", "KEY_EXPIRY", "RateDetector"]

QUIET_P = 0.01                    # a window this likely under the baseline is "normal again"
QUIET_WINDOWS = 3                 # normal for this many windows: the spike is over
LEARNING_LAG = 3                  # windows: the shortest lag, while a key is young
SHARP = 2.0                       # the learning window alone opens a spike only this many
                                  # times rate_min_ratio above its baseline (a short blip
                                  # at 3× is not trouble; 3× that lasts fills the longer ones)
KEY_EXPIRY = 7 * 86400.0          # a key with no event for this long is forgotten
MAX_HELD = 4096
MAX_SERIES = 100_000              # report points per key (a replay over years stays bounded)


class RateDetector(RatePersistence):
    """Learns rates and opens, updates and resolves ``rate_spike`` incidents."""

    name = "rates"

    def __init__(self, config: DetectConfig, *, record_series: bool = False) -> None:
        self.config = config
        self.record_series = record_series
        self.bucket = config.bucket
        self.window_buckets = max(1, round(config.rate_window / config.bucket))
        self.window_seconds = self.window_buckets * self.bucket
        # the judged windows, in learning windows: the learning window itself first
        self.scales = sorted({max(2, round(s / self.window_seconds))
                              for s in config.rate_scales})
        self.longest = max(self.scales, default=1)
        self.lag = max(LEARNING_LAG, self.longest)
        self.fading = fading(self.window_seconds, config.rate_half_life)
        self.slow_fading = fading(self.window_seconds, SLOW_HALF_LIFE)
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

    def _key(self, service: str, cls: str, created: float, closed_through: int) -> Key:
        key = Key(service=service, cls=cls, created=created, fading=self.fading,
                  slow_fading=self.slow_fading, window_buckets=self.window_buckets,
                  scales=tuple(self.scales), closed_through=closed_through)
        key.series = Series() if self.record_series else None
        return key

    def _new_key(self, service: str, cls: str, when: float, index: int) -> Key:
        if len(self.keys) >= self.config.rate_max_keys:
            self._evict()
        key = self._key(service, cls, when, index - index % self.window_buckets - 1)
        # The service ran before this kind of trouble first showed: those windows had
        # none of it. Learn them (at most a few half-lives' worth) as zeros.
        quiet = int((key.closed_through + 1) * self.bucket - self.services.get(service, when))
        prior = min(quiet // int(self.window_seconds), self.prior_windows)
        if prior > 0:
            self._learn_zeros(key, prior, when - prior * self.window_seconds)
        key.resum()
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
        """Close buckets one by one while the last window holds events or a spike is
        open; jump over the quiet stretch up to the next bucket that holds events."""
        while key.closed_through < target:
            index = key.closed_through + 1
            if key.spike is None and key.window_sum == 0:
                quiet_through = min(min(key.open, default=target + 1) - 1, target)
                if quiet_through >= index:
                    self._skip_quiet(key, quiet_through)
                    continue
            self._close_bucket(key, index, key.open.pop(index, 0))

    def _skip_quiet(self, key: Key, target: int) -> None:
        """Buckets ``closed_through+1 .. target`` are all empty, and so is the last window.

        The learning windows they complete are closed one by one while the longer
        windows or the lag still hold events (or the report wants their points), then
        all the rest at once, as zeros.
        """
        w = self.window_buckets
        window = (key.closed_through + 1) // w
        last = (target + 1) // w - 1
        while window <= last:
            if (not any(key.minutes) and not any(key.pending)
                    and (key.series is None or len(key.series.start) >= MAX_SERIES)):
                # the lag's (empty) windows are learned first, then as many new ones wait
                start = (window - len(key.pending)) * self.window_seconds
                self._learn_zeros(key, last - window + 1, start)
                break
            self._close_window(key, window, 0)
            window += 1
        key.closed_through = target
        key.learning_count = 0

    def _close_bucket(self, key: Key, index: int, count: int) -> None:
        recent = key.recent
        key.window_sum += count - recent[0]
        recent.append(count)
        key.learning_count += count
        key.closed_through = index
        if count or key.spike is not None:
            self._judge(key, index, count)
        if index % self.window_buckets == self.window_buckets - 1:
            self._close_window(key, index // self.window_buckets, key.learning_count)
            key.learning_count = 0

    def _close_window(self, key: Key, window: int, count: int) -> None:
        """Learning window ``window`` is over: into the longer windows, and to learn (after
        the lag) or to hold back (while a spike is open)."""
        if key.series is not None:
            self._record(key, count, window * self.window_seconds)
        minutes, sums = key.minutes, key.sums
        for i, scale in enumerate(self.scales):
            sums[i] += count - minutes[-(scale - 1)]
        if minutes:
            minutes.append(count)
            del minutes[0]
        spike = key.spike
        if spike is not None and not spike.adapted:
            if len(key.held) < MAX_HELD:
                key.held.append(count)
            return
        pending = key.pending
        pending.append(count)
        key.pending_sum += count
        lag = min(self.lag, max(LEARNING_LAG, key.learned))
        while len(pending) > lag:
            start = (window - len(pending) + 1) * self.window_seconds
            oldest = pending.pop(0)
            key.pending_sum -= oldest
            self._absorb(key, oldest, start)

    def _absorb(self, key: Key, count: int, start: float) -> None:
        """Learn one window: the level, the slow level and the profile. (The windows of a
        spike that became the new level teach the levels, not the profile: they say
        nothing of what this hour usually looks like.)"""
        window = self.window_seconds
        profile = key.profile
        used = profile.factor(start + window / 2)
        x = count / used
        if key.spike is None:
            reference = key.slow.mean if key.learned else x
            change = profile.learn(start, start + window, count, reference, used)
            if change != 1.0:             # a daily (weekly) shape starts to be used
                key.moments.scale(1.0 / change)
        key.moments.update(x)
        key.slow.update(x)
        key.learned += 1

    def _learn_zeros(self, key: Key, n: int, start: float) -> None:
        """``n`` windows from ``start`` on held nothing (a quiet stretch), at once."""
        key.profile.learn_quiet(start, start + n * self.window_seconds, key.slow.mean,
                                self.window_seconds)
        key.moments.decay(n)
        key.slow.decay(n)
        key.learned += n

    def _record(self, key: Key, count: int, start: float) -> None:
        series = key.series
        assert series is not None
        if len(series.start) >= MAX_SERIES:
            return
        mean = key.expected(int(start // self.window_seconds), self.window_seconds)[0][0]
        var = mean * key.dispersion()
        series.start.append(start)
        series.count.append(count)
        series.baseline.append(mean if key.learned else math.nan)
        series.threshold.append(self.threshold(mean, var if var > mean else None)
                                if key.learned >= self.grace_windows else math.nan)

    # -- verdicts -------------------------------------------------------------------------
    def threshold(self, mean: float, var: float | None) -> float:
        """The smallest count in a learning window that would open a spike."""
        base = max(mean, BASELINE_FLOOR)
        n = max(self.config.rate_min_count,
                math.ceil(SHARP * self.config.rate_min_ratio * base))
        for _ in range(100_000):
            if upper_tail(n, base, var) < self.config.rate_sensitivity:
                return float(n)
            n += max(1, n // 50)
        return float(n)

    def _judge(self, key: Key, index: int, count: int) -> None:
        """Judge every window that ends with this bucket (one with events), or the window
        of the open spike."""
        end = (index + 1) * self.bucket
        config = self.config
        spike = key.spike
        expected, sources = key.expected(index // self.window_buckets, self.window_seconds)
        scales = (1, *self.scales)
        if spike is None:
            if (key.learned < self.grace_windows // 2
                    or key.learned + len(key.pending) < self.grace_windows):
                return
            best: tuple[float, int, int, float, float] | None = None
            for i, scale in enumerate(scales):
                observed, length = key.window(index, i)
                if observed < config.rate_min_count:
                    continue
                base = max(expected[i], BASELINE_FLOOR) * length
                if observed < config.rate_min_ratio * base * (SHARP if i == 0 else 1.0):
                    continue
                p = key.tail(observed, base, i, sources[i]) / scale
                if p < config.rate_sensitivity and (best is None or p < best[0]):
                    best = (p, scale, observed, length, expected[i])
            if best is None:
                return
            if key.cls == ERROR_RATE and self._explained(key.service, end):
                return
            _, scale, observed, length, usual = best
            key.spike = Spike(start=end - length * self.window_seconds, baseline=usual,
                              peak=key.window_sum, events=observed, scale=scale)
            key.held_start = (index // self.window_buckets - len(key.pending)) \
                * self.window_seconds
            key.held.extend(key.pending)      # the onset is part of the spike
            key.pending.clear()
            key.pending_sum = 0
            self.spikes += 1
            self._notify(key, end, observed / length, observed)
            return
        spike.peak = max(spike.peak, key.window_sum)
        spike.events += count
        # Back to normal: every judged window up to the one that opened the spike (and
        # up to SHORT, which sees more than the learning window at low rates) is near its
        # baseline, or no longer improbable under it. (The minimum count only gates
        # opening: 3/min against 0.04/min is still a spike.)
        normal = True
        for i, scale in enumerate(scales):
            if scale > max(spike.scale, SHORT):
                break
            observed, length = key.window(index, i)
            base = max(expected[i], BASELINE_FLOOR) * length
            if (observed >= 1.5 * base
                    and key.tail(observed, base, i, sources[i]) < QUIET_P):
                normal = False
                break
        if not spike.adapted and end - spike.start >= config.rate_adapt_after:
            spike.adapted = True          # a lasting new level: learn it
            for n, held in enumerate(key.held):
                self._absorb(key, held, key.held_start + n * self.window_seconds)
            key.held.clear()
            key.expect = None
        if normal:
            spike.quiet += 1
            if spike.quiet >= QUIET_WINDOWS * self.window_buckets:
                self._close(key, end)
            return
        spike.quiet = 0
        if count:
            i = scales.index(spike.scale) if spike.scale in scales else 0
            observed, length = key.window(index, i)
            self._notify(key, end, observed / length, count)

    def _notify(self, key: Key, when: float, per_window: float, add: int) -> None:
        spike = key.spike
        assert spike is not None
        per_minute = 60.0 / self.window_seconds
        rate = per_window * per_minute
        baseline = max(spike.baseline, 0.0) * per_minute
        ratio = per_window / max(spike.baseline, BASELINE_FLOOR)
        span = spike.scale * self.window_seconds
        summary = spike_summary(key.cls, key.service, rate, baseline, ratio,
                                span if spike.scale > 1 else None)
        pattern = key.patterns.most_common(1)[0][0] if key.patterns else None
        # A class's spike takes the runbook of its most frequent pattern (the pipeline's
        # Runbooks chooses it); the error rate has its own.
        runbook = ERROR_RATE_RUNBOOK if key.cls == ERROR_RATE else None
        self._found.append(Occurrence(
            kind=Kind.RATE_SPIKE, cls=key.cls, service=key.service, key={},
            severity=Severity.ERROR if ratio >= 10 else Severity.WARNING, summary=summary,
            sample=key.samples[-1] if key.samples else summary, when=when, pattern=pattern,
            fields={"rate_per_min": f"{rate:.3g}", "baseline_per_min": f"{baseline:.2g}",
                    "ratio": f"{ratio:.1f}", "window_min": f"{span / 60:g}"},
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
        if spike is None:
            return
        key.spans.append((spike.start, when))
        del key.spans[:-MAX_SPANS]
        self._found.append(Resolution(Kind.RATE_SPIKE, key.cls, key.service, {}, when))
        # Nor is it evidence for the next verdict: in the longer windows, its learning
        # windows count as usual ones (a burst that is over does not open a slower spike).
        minutes = key.minutes
        last = (key.closed_through + 1) // self.window_buckets - 1
        spiked = min(last - int(spike.start // self.window_seconds) + 1, len(minutes))
        usual = round(key.expected(last + 1, self.window_seconds)[0][0])
        for j in range(1, spiked + 1):
            minutes[-j] = min(minutes[-j], usual)
        key.learning_count = min(key.learning_count, usual)
        key.resum()

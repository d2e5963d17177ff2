"""Event time and the watermark.

Replay drives the clock from the lines' own timestamps; the daemon from arrival
(wall) time. Either way the *watermark* is the time up to which the detector
believes it has seen everything (minus the allowed lateness): incidents resolve
and rate buckets close against it.

Bad timestamps never move it far: a time more than ``max_clock_jump`` ahead of
the watermark is doubted (the event takes the watermark instead) until a second
timestamp (a different one, near it: one line's time seen twice confirms nothing)
confirms the jump; a time in the future of the wall clock (live) is clamped to
arrival. Both are counted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

__all__ = ["EventClock"]

FUTURE_TOLERANCE = 300.0


@dataclass
class Timeline:
    """One stream's own progress through event time."""

    high: float | None = None          # the highest event time admitted
    doubted: float | None = None       # a jump waiting for confirmation


@dataclass
class EventClock:
    live: bool
    lateness: float = 30.0
    max_clock_jump: float = 86400.0
    high: float | None = None          # the highest event time admitted, any stream
    late: int = 0
    jumps_doubted: int = 0
    future: int = 0
    default: Timeline = field(default_factory=Timeline)   # for callers without a stream

    def admit(self, when: float, timed: bool, arrival: float | None = None,
              timeline: Timeline | None = None) -> float:
        """The time to use for an event that says ``when`` (``timed``: it had its own).

        ``timeline`` is the stream the event came from: jumps and lateness are judged
        against that stream's own past, since several inputs replayed together are
        each at their own point in time.
        """
        if self.live:
            now = arrival if arrival is not None else time.time()
            if when > now + FUTURE_TOLERANCE:
                self.future += 1
                when = now
            if self.high is None or now > self.high:
                self.high = now
            if when < now - self.lateness:
                self.late += 1
            return when
        if not timed:
            return when                # the previous line's time, already admitted
        line = timeline if timeline is not None else self.default
        high = line.high
        if high is not None and when > high + self.max_clock_jump:
            doubted = line.doubted
            # Confirmed only by another timestamp near it: the same line's time seen twice
            # (as an event, then as its buffer's last time) confirms nothing.
            if doubted is not None and when != doubted and \
                    abs(when - doubted) <= self.max_clock_jump:
                line.doubted = None    # confirmed: the log really jumped
            else:
                line.doubted = when
                self.jumps_doubted += 1
                return high
        else:
            line.doubted = None
            if high is not None and when < high - self.lateness:
                self.late += 1
        if high is None or when > high:
            line.high = when
        if self.high is None or when > self.high:
            self.high = when
        return when

    def watermark(self) -> float | None:
        """Event time below which nothing more is expected."""
        if self.live:
            return time.time() - self.lateness
        return None if self.high is None else self.high - self.lateness

"""Event time and the watermark.

Replay drives the clock from the lines' own timestamps; the daemon from arrival
(wall) time. Either way the *watermark* is the time up to which the detector
believes it has seen everything (minus the allowed lateness): incidents resolve
and rate buckets close against it.

Bad timestamps never move it far: a time more than ``max_clock_jump`` ahead of
the watermark is doubted (the event takes the watermark instead) until a second
timestamp confirms the jump; a time in the future of the wall clock (live) is
clamped to arrival. Both are counted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = ["EventClock"]

FUTURE_TOLERANCE = 300.0


@dataclass
class EventClock:
    live: bool
    lateness: float = 30.0
    max_clock_jump: float = 86400.0
    high: float | None = None          # the highest event time admitted
    doubted: float | None = None       # a jump waiting for confirmation
    late: int = 0
    jumps_doubted: int = 0
    future: int = 0

    def admit(self, when: float, timed: bool, arrival: float | None = None) -> float:
        """The time to use for an event that says ``when`` (``timed``: it had its own)."""
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
        high = self.high
        if high is None or not timed:
            if high is None and timed:
                self.high = when
            return when if high is None or timed else max(when, high - self.lateness)
        if when > high + self.max_clock_jump:
            doubted = self.doubted
            if doubted is not None and abs(when - doubted) <= self.max_clock_jump:
                self.doubted = None
                self.high = when       # confirmed: the log really jumped
                return when
            self.doubted = when
            self.jumps_doubted += 1
            return high
        self.doubted = None
        if when > high:
            self.high = when
        elif when < high - self.lateness:
            self.late += 1
        return when

    def watermark(self) -> float | None:
        """Event time below which nothing more is expected."""
        if self.live:
            return time.time() - self.lateness
        return None if self.high is None else self.high - self.lateness

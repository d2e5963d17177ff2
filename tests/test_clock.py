"""Event time: the watermark tolerates late lines and doubts wild jumps."""

from __future__ import annotations

from detector.clock import EventClock


def test_replay_time_follows_the_lines() -> None:
    clock = EventClock(live=False, lateness=30)
    assert clock.admit(1000.0, True) == 1000.0
    assert clock.admit(1010.0, True) == 1010.0
    assert clock.watermark() == 980.0


def test_slightly_late_lines_keep_their_time_and_very_late_ones_are_counted() -> None:
    clock = EventClock(live=False, lateness=30)
    clock.admit(1000.0, True)
    assert clock.admit(990.0, True) == 990.0
    assert clock.late == 0
    assert clock.admit(900.0, True) == 900.0
    assert clock.late == 1
    assert clock.watermark() == 970.0          # late lines never move it back


def test_one_timestamp_far_in_the_future_is_doubted() -> None:
    clock = EventClock(live=False, max_clock_jump=3600)
    clock.admit(1000.0, True)
    assert clock.admit(1000.0 + 86400 * 365 * 80, True) == 1000.0
    assert clock.jumps_doubted == 1
    assert clock.admit(1001.0, True) == 1001.0
    assert clock.watermark() == 971.0


def test_a_confirmed_jump_is_accepted() -> None:
    clock = EventClock(live=False, max_clock_jump=3600, lateness=0)
    clock.admit(1000.0, True)
    clock.admit(100000.0, True)
    assert clock.admit(100001.0, True) == 100001.0
    assert clock.watermark() == 100001.0


def test_live_future_times_are_clamped_to_arrival() -> None:
    clock = EventClock(live=True)
    assert clock.admit(10_000.0, True, arrival=1000.0) == 1000.0
    assert clock.future == 1
    assert clock.admit(990.0, True, arrival=1000.0) == 990.0

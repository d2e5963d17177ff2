"""Hostile input never stops the pipeline, and work grows with events, never with time gaps.

Random and mutated log lines — every era of timestamp (year 1, 1970, 2036, 9999, 1e308,
NaN, negative epochs), broken JSON, binary garbage, NUL bytes, long lines, tracebacks cut
anywhere — go through the pipeline as replay drives it (event time) and as the daemon
drives it (wall time, arrival stamps). No exception may escape; the rate detector's work is
counted (bucket closes and windows learned) and must stay within a bound set by the number
of events, whatever the gaps between their timestamps.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.build import build_pipeline, load_patterns, make_engine
from detector.config import load_config
from detector.decode.events import Origin, Stream
from detector.detect.rates import RateDetector
from detector.pipeline import Pipeline

CONFIG = load_config(None)
ENGINE = make_engine(CONFIG, load_patterns(CONFIG))

ERAS = ["0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "1999-12-31T23:59:59Z",
        "2026-11-20T10:00:00Z", "2026-11-20 10:00:01,123", "2036-02-07T06:28:16Z",
        "9999-12-31T23:59:59Z", "20/Nov/2026:10:00:00 +0000", "Nov 20 10:00:00"]
NUMBERS = [0, -1, 1, 1e308, -1e308, 253402300799, 1795132800, 1795132800123,
           1795132800123456789, 2**63, 1e-300]
MESSAGES = [
    "redis.exceptions.LockError: Unable to acquire lock on lock:job:1 after 10 seconds",
    "psycopg2.errors.DeadlockDetected: deadlock detected",
    "dial tcp 10.0.0.5:5432: connect: connection refused",
    "Task was destroyed but it is pending!",
    "429 Too Many Requests",
    "ERROR payment 42 failed: card declined",
    "Traceback (most recent call last):",
    '  File "/app/x.py", line 3, in f',
    "KeyError: 'x'",
    "INFO all good",
]

json_time = st.one_of(st.sampled_from(ERAS), st.sampled_from(NUMBERS),
                      st.floats(allow_nan=True, allow_infinity=True),
                      st.sampled_from(["NaN", "inf", "-inf", "", "soon", "1e308"]),
                      st.integers(min_value=-(2**70), max_value=2**70))


@st.composite
def json_line(draw: Any) -> bytes:
    import orjson

    record: dict[str, Any] = {
        draw(st.sampled_from(["time", "ts", "@timestamp", "timestamp"])): draw(json_time),
        draw(st.sampled_from(["msg", "message", "event", "log"])): draw(st.one_of(
            st.sampled_from(MESSAGES), st.text(max_size=200),
            st.just("\n".join(MESSAGES[6:9])))),
        "level": draw(st.sampled_from(["error", "info", "ERROR", 50, None, "x"])),
        "service": draw(st.sampled_from(["api", "worker", "", None, 7])),
    }
    try:
        return orjson.dumps(record, option=orjson.OPT_NON_STR_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        return b"{}"


@st.composite
def plain_line(draw: Any) -> bytes:
    stamp = draw(st.sampled_from(["", *ERAS]))
    message = draw(st.one_of(st.sampled_from(MESSAGES), st.text(max_size=300)))
    return f"{stamp} ERROR {message}".encode("utf-8", "replace")


@st.composite
def mutated(draw: Any) -> bytes:
    base = draw(st.one_of(plain_line(), json_line()))
    if not base:
        return base
    cut = draw(st.integers(min_value=0, max_value=len(base)))
    junk = draw(st.binary(max_size=40))
    return base[:cut] + junk + base[cut:]


lines = st.lists(st.one_of(plain_line(), json_line(), mutated(), st.binary(max_size=200),
                           st.just(b"x" * 20000), st.just(b"\x00\x00 NUL ERROR \x00")),
                 min_size=1, max_size=40)


def counting(pipeline: Pipeline) -> list[int]:
    """Count the rate detector's units of work (buckets and windows closed, learned)."""
    work = [0]
    for detector in pipeline.detectors:
        if isinstance(detector, RateDetector):
            for name in ("_close_bucket", "_close_window", "_absorb"):
                original = getattr(detector, name)

                def counted(*args: Any, _original: Any = original) -> Any:
                    work[0] += 1
                    return _original(*args)

                setattr(detector, name, counted)
    return work


def bound(events: int) -> int:
    """Per event: the buckets of a spike's quiet-down and the learning lag, generously;
    none for the length of a gap."""
    return 200 + 400 * events


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=lines)
def test_replay_survives_anything_and_work_is_bounded(lines: list[bytes]) -> None:
    sink: list[object] = []
    pipeline = build_pipeline(CONFIG, ENGINE, sink.append, live=False)
    work = counting(pipeline)
    stream = Stream(origin=Origin.for_path("/var/log/fuzz.log"))
    buf = b"\n".join(line.replace(b"\n", b" ") for line in lines) + b"\n"
    consumed = pipeline.feed(buf, stream, final=True)
    assert consumed == len(buf)
    pipeline.advance()
    assert work[0] <= bound(pipeline.stats.events)
    for event in sink:
        assert isinstance(event, dict)
        assert event["first_seen"] <= event["last_seen"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=lines, arrival=st.sampled_from([1795132800.0, 1795132800.0 + 3600]))
def test_the_daemons_pipeline_survives_anything_and_work_is_bounded(
        lines: list[bytes], arrival: float) -> None:
    sink: list[object] = []
    pipeline = build_pipeline(CONFIG, ENGINE, sink.append, live=True)
    work = counting(pipeline)
    stream = Stream(origin=Origin(source="fuzz", service="fuzz"))
    for line in lines:
        pipeline.feed(line.replace(b"\n", b" ") + b"\n", stream, final=True, arrival=arrival)
    pipeline.advance(arrival + 60)
    assert work[0] <= bound(pipeline.stats.events)
    for event in sink:
        assert isinstance(event, dict)


def test_a_year_one_line_among_todays_does_not_move_time() -> None:
    """Go's zero time must not make the detector walk two thousand years of windows, nor
    move the watermark."""
    sink: list[object] = []
    pipeline = build_pipeline(CONFIG, ENGINE, sink.append, live=False)
    work = counting(pipeline)
    stream = Stream(origin=Origin.for_path("/var/log/go.log"))
    text = ("2026-11-20T10:00:00Z ERROR dial tcp: connection refused\n"
            '{"time":"0001-01-01T00:00:00Z","level":"error","msg":"dial tcp: refused"}\n'
            "2026-11-20T10:00:05Z ERROR dial tcp: connection refused\n")
    pipeline.feed(text.encode(), stream, final=True)
    pipeline.advance()
    assert work[0] <= bound(pipeline.stats.events)
    high = pipeline.clock.high
    assert high is not None and math.isfinite(high) and high >= 1795132800.0

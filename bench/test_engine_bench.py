"""Micro-benchmarks of the engine's parts (pytest-benchmark).

    python -m pytest bench/test_engine_bench.py --benchmark-only

They measure, they do not assert speed: these machines are shared and noisy.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus

from detector.build import load_patterns
from detector.config import load_config
from detector.decode.events import Origin, Stream, assemble
from detector.decode.timestamps import leading_timestamp
from detector.match.engine import Engine, build_engine
from detector.redact import redact


@pytest.fixture(scope="module")
def buffer(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("bench") / "corpus.log"
    corpus.generate(path, 40_000)
    return path.read_bytes()


@pytest.fixture(scope="module", params=["hyperscan", "regex"])
def engine(request: pytest.FixtureRequest) -> Engine:
    return build_engine(load_patterns(load_config(None)), engine=request.param)


def test_prefilter_scan(benchmark, engine: Engine, buffer: bytes) -> None:  # type: ignore[no-untyped-def]
    hits = benchmark(engine.scan, buffer)
    assert hits


def test_assemble_and_confirm(benchmark, buffer: bytes) -> None:  # type: ignore[no-untyped-def]
    engine = build_engine(load_patterns(load_config(None)), engine="hyperscan")
    hits = engine.scan(buffer)

    def run() -> int:
        stream = Stream(origin=Origin(source="bench", service="bench"))
        events, _ = assemble(buffer, hits, stream, final=True)
        return sum(1 for e in events if engine.confirm(e) is not None)

    assert benchmark(run) > 0


def test_leading_timestamp(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark(leading_timestamp, "2026-11-20 10:00:03,114 ERROR [worker-sync] LockError: x")


def test_redact_clean_line(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark(redact, "2026-11-20 10:00:03,114 ERROR [worker] LockError: Unable to acquire lock")


def test_redact_line_with_secret(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark(redact, "login failed for user bob password=hunter2 token=abc123def")

"""Shared helpers: run the real command line, build engines once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from detector.build import load_patterns
from detector.config import load_config
from detector.match.engine import Engine, build_engine

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None,
            cwd: Path | None = None, timeout: float = 120) -> Result:
    """Run ``python -m detector ARGS`` as a user would, in a subprocess."""
    full_env = {**os.environ, "DETECTOR_CACHE_DIR": str(ROOT / ".pytest_cache" / "hs")}
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "detector", *args], input=stdin,
                          capture_output=True, env=full_env, cwd=cwd or ROOT, timeout=timeout,
                          check=False)
    return Result(proc.returncode, proc.stdout.decode("utf-8", "replace"),
                  proc.stderr.decode("utf-8", "replace"))


@pytest.fixture(scope="session")
def shipped_patterns():  # type: ignore[no-untyped-def]
    return load_patterns(load_config(None))


@pytest.fixture(scope="session")
def hs_engine(shipped_patterns) -> Engine:  # type: ignore[no-untyped-def]
    return build_engine(shipped_patterns, engine="hyperscan")


@pytest.fixture(scope="session")
def regex_engine(shipped_patterns) -> Engine:  # type: ignore[no-untyped-def]
    return build_engine(shipped_patterns, engine="regex")


@pytest.fixture(scope="module")
def tansu() -> Iterator[str]:
    """A real Kafka broker (Tansu) on loopback for one test module; its bootstrap address."""
    from components import start_tansu

    process, bootstrap = start_tansu()
    try:
        yield bootstrap
    finally:
        process.kill()
        process.wait(10)

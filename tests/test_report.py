"""The replay report: one self-contained HTML file."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import ROOT, run_cli


def test_report_over_the_example_is_self_contained(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    logs = sorted(str(p) for p in (ROOT / "examples" / "trading-day").glob("*.log.gz"))
    result = run_cli("replay", *logs, "--report", str(target), "--output", "jsonl")
    assert result.code == 0, result.err
    page = target.read_text()
    assert page.startswith("<!doctype html>")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)   # no network
    assert "<script" not in page
    assert page.count("<svg") >= 4                                 # one chart per troubled key
    assert "worker-sync · lock_timeout" in page
    assert "learned baseline → spike threshold" in page
    assert "Lock-timeout rate in worker-sync" in page             # the spike, in the table
    assert "New error in api" in page
    assert "Redis lock timeout: a workflow holds lock:* too long" in page   # a runbook


def test_an_unwritable_report_is_a_clear_error(tmp_path: Path) -> None:
    log = tmp_path / "api.log"
    log.write_text("2026-11-20 10:00:00 ERROR MemoryError\n")
    result = run_cli("replay", str(log), "--report", str(tmp_path / "missing" / "r.html"))
    assert result.code == 2
    assert "cannot write the report" in result.err and "Traceback" not in result.err

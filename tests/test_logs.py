"""Log lines are structured and never carry secrets."""

from __future__ import annotations

import io
import json

import structlog

from detector.telemetry.logs import configure


def test_json_log_lines_have_event_level_time_and_masked_secrets() -> None:
    out = io.StringIO()
    configure("info", "auto", stream=out)
    log = structlog.get_logger("test")
    log.warning("notify.retry", destination="ops",
                error="webhook answered HTTP 401: {'token': 'abc123', 'password=hunter2'}",
                headers={"Authorization": "Bearer s3cr3tt0k3n"})
    log.debug("hidden.at.info")
    (line,) = out.getvalue().splitlines()
    record = json.loads(line)
    assert (record["event"], record["level"], record["destination"]) == ("notify.retry",
                                                                           "warning", "ops")
    assert "timestamp" in record
    assert "hunter2" not in line and "abc123" not in line and "s3cr3tt0k3n" not in line


def test_console_rendering_when_asked() -> None:
    out = io.StringIO()
    configure("debug", "console", stream=out)
    structlog.get_logger("test").info("source.started", path="/var/log/app.log")
    assert "source.started" in out.getvalue() and "path=/var/log/app.log" in out.getvalue()

"""strip_prefix: a line without its leading time, level and logger/process prefix."""

from __future__ import annotations

import pytest

from detector.decode.prefix import strip_prefix


@pytest.mark.parametrize(("line", "message"), [
    ("2026-11-20 10:00:03,114 ERROR app.module: cache stale for user 1",
     "cache stale for user 1"),
    ("2026-11-20T10:00:03.114Z ERROR [worker-sync] LockError: Unable to acquire lock",
     "LockError: Unable to acquire lock"),
    ("2026-11-20T10:00:03+01:00 [error] upstream timed out", "upstream timed out"),
    ("Nov 20 10:00:00 web1 sshd[123]: Failed password for root", "Failed password for root"),
    ("[20/Nov/2026:10:00:00 +0000] [123] [ERROR] Worker timeout", "Worker timeout"),
    ("[2026-11-20 10:00:00,000: ERROR/MainProcess] Task failed", "Task failed"),
    ("[2026-11-20 10:00:00,123] ERROR in app: boom", "in app: boom"),
    ("ERROR:root:something broke", "something broke"),
    ("ERROR:    Exception in ASGI application", "Exception in ASGI application"),
    ("2026-11-20 10:00:00.123 | ERROR    | app.db:connect:42 - Connection refused",
     "Connection refused"),
    ("web_1  | 2026-11-20 10:00:00 ERROR boom here", "boom here"),
    ("web_1  | plain message", "plain message"),
    ("E1120 10:00:00.123456    1234 server.go:42] failed to sync", "failed to sync"),
    ("11-20 10:00:00.123  1234  5678 E ActivityManager: ANR in x", "ANR in x"),
    ("level=error ts=2026-11-20T10:00:00Z msg=boom", "msg=boom"),
    ("2026/11/20 10:00:00 [error] 1234#0: *1 connect() failed", "connect() failed"),
    ("pid 123 ERROR disk full", "disk full"),
    ("[worker-sync] ERROR: boom", "boom"),
    ("INFO 2026-11-20 10:00:00 worker started", "worker started"),
])
def test_headers_are_stripped(line: str, message: str) -> None:
    assert strip_prefix(line) == message


@pytest.mark.parametrize("line", [
    "psycopg2.errors.DeadlockDetected: deadlock detected",
    "Traceback (most recent call last):",
    "[instance: 5f0c] VM Started",
    "[worker-sync] boom",                       # no time, no level: maybe the message
    "ERROR",                                    # nothing would be left
    "2026-11-20 10:00:00",
    "connection refused: 10:00:00 is when",
    "",
])
def test_messages_are_left_alone(line: str) -> None:
    assert strip_prefix(line) == line


def test_the_message_itself_is_never_taken() -> None:
    assert strip_prefix("ERROR psycopg2.errors.DeadlockDetected: deadlock detected") == (
        "psycopg2.errors.DeadlockDetected: deadlock detected")
    assert strip_prefix("ERROR KeyError: 'user_id'") == "KeyError: 'user_id'"
    assert strip_prefix("ERROR timeout: request took 30s") == "timeout: request took 30s"
    assert strip_prefix("WARNING [Errno 111] Connection refused") == (
        "[Errno 111] Connection refused")

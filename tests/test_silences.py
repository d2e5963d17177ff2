"""Silences, maintenance windows and the incident history, in process: what the gate decides
for each incident event, what the history keeps, and the config tables behind them."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from pathlib import Path

import pytest

from detector.config import load_config
from detector.config.operating import Matchers
from detector.errors import ConfigError
from detector.history import History
from detector.model import EventName, IncidentEvent, Kind, Severity
from detector.notify.outbox import Outbox
from detector.notify.silences import Gate, Verdict, plan_silence

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC).timestamp()   # a Tuesday, for schedules


def event(name: str = "open", *, incident: str = "i1", cls: str = "lock_timeout",
          service: str = "worker-sync", count: int = 1) -> IncidentEvent:
    return {"event": EventName(name), "id": incident, "kind": Kind.SIGNATURE, "class": cls,
            "pattern": "redis.lock_error", "severity": Severity.ERROR, "service": service,
            "fingerprint": f"fp-{incident}", "first_seen": "2026-12-01T12:00:00Z",
            "last_seen": "2026-12-01T12:00:00Z", "count": count, "summary": "s",
            "fields": {}, "samples": ["line"], "runbook": None}


@pytest.fixture
def live() -> float:
    """Now by the wall clock: the gate reads the silences that have not ended by it."""
    return float(int(time.time()))


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    box = Outbox.in_state_dir(tmp_path / "state")
    yield box  # type: ignore[misc]
    box.close()


def test_a_silenced_open_is_held_updates_are_quiet_and_the_end_sends_the_open(
        outbox: Outbox, live: float) -> None:
    gate = Gate(outbox.db)
    silence = gate.store.add(Matchers(services=("worker-*",)), starts=live - 1, ends=live + 60,
                             comment="deploy", author="ops", now=live)
    gate.reload()
    assert gate.route(event("open"), live) == (Verdict.HOLD, silence.id)
    assert gate.route(event("update", count=5), live + 1) == (Verdict.HOLD, silence.id)
    assert gate.route(event("open", incident="other", service="api"), live) == (Verdict.SEND,
                                                                                None)
    assert gate.releasable(live + 30) == []
    assert gate.releasable(live + 61) == [("i1", "fp-i1")]
    late = event("update", count=9)
    assert gate.route(late, live + 61) == (Verdict.SEND, None)
    assert late["event"] == "open"             # nobody was told it opened: this is its open
    assert gate.withheld == {}


def test_the_resolve_of_a_held_incident_is_dropped_and_of_a_sent_one_always_sent(
        outbox: Outbox, live: float) -> None:
    gate = Gate(outbox.db)
    gate.store.add(Matchers(classes=("lock_*",)), starts=live, ends=live + 60, comment="",
                   author="", now=live)
    gate.reload()
    assert gate.route(event("open"), live)[0] is Verdict.HOLD
    assert gate.route(event("resolve"), live + 5)[0] is Verdict.DROP
    assert gate.withheld == {}
    # announced before the silence: its updates are quiet, its resolve goes out
    assert gate.route(event("update", incident="i2"), live + 5)[0] is Verdict.QUIET
    assert gate.route(event("resolve", incident="i2"), live + 6)[0] is Verdict.SEND


def test_what_was_withheld_survives_a_new_gate_and_a_failed_transaction_rolls_it_back(
        outbox: Outbox, live: float) -> None:
    gate = Gate(outbox.db)
    gate.store.add(Matchers(classes=("lock_timeout",)), starts=live, ends=live + 60,
                   comment="", author="", now=live)
    gate.reload()
    with outbox.transaction():
        gate.route(event("open"), live)
    assert set(Gate(outbox.db).withheld) == {"i1"}           # a restart (or kill -9) keeps it
    def failing() -> None:
        with outbox.transaction():
            gate.route(event("open", incident="i3"), live)
            raise RuntimeError("the disk is full")

    with pytest.raises(RuntimeError):
        failing()
    gate.reload()
    assert set(gate.withheld) == {"i1"}


def test_maintenance_windows_silence_in_their_time_zone(tmp_path: Path, outbox: Outbox) -> None:
    config = tmp_path / "detector.toml"
    config.write_text('[[maintenance]]\nname = "backup"\nservice = "batch-*"\ndays = ["tue"]\n'
                      'start = "13:00"\nduration = "1h"\ntimezone = "Europe/Berlin"\n'
                      '[[maintenance]]\nname = "migration"\nclass = ["schema_*"]\n'
                      'start = "2026-12-24T22:00"\nend = "2026-12-25T02:00"\n')
    backup, migration = load_config(config).maintenance
    gate = Gate(outbox.db, (backup, migration))
    # 2026-12-01 is a Tuesday; 13:00 in Berlin is 12:00 UTC
    assert gate.reason(event(service="batch-nightly"), NOW + 60) == "maintenance:backup"
    assert gate.reason(event(service="batch-nightly"), NOW - 60) is None
    assert gate.reason(event(service="api"), NOW + 60) is None
    assert backup.next_window(NOW + 3600) == (NOW + 7 * 86400, NOW + 7 * 86400 + 3600)
    christmas = dt.datetime(2026, 12, 24, 23, 0, tzinfo=dt.UTC).timestamp()
    assert gate.reason(event(cls="schema_mismatch"), christmas) == "maintenance:migration"
    assert migration.next_window(christmas + 86400) is None
    assert backup.describe() == "every tue 13:00 for 1h00m Europe/Berlin"


def test_a_weekly_window_past_midnight_and_bad_tables(tmp_path: Path) -> None:
    config = tmp_path / "detector.toml"
    config.write_text('[[maintenance]]\nname = "late"\ndays = ["mon"]\nstart = "23:00"\n'
                      'end = "01:00"\n')
    (late,) = load_config(config).maintenance
    assert late.duration == 7200
    monday = dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.UTC).timestamp()
    assert late.active(monday) and late.active(monday + 3600) and not late.active(monday + 7200)
    for body, problem in [
            ('days = ["mon"]\nstart = "02:00"\n', "give duration or end"),
            ('days = ["someday"]\nstart = "02:00"\nduration = "1h"\n', "days are mon"),
            ('start = "2026-12-24T22:00"\n', "needs an end"),
            ('start = "2026-12-24T22:00"\nend = "2026-12-24T21:00"\n', "must be after"),
            ('days = ["mon"]\nstart = "2am"\nduration = "1h"\n', "time of day"),
            ('days = ["mon"]\nstart = "02:00"\nduration = "1h"\ntimezone = "Mars/Olympus"\n',
             "unknown time zone"),
            ('start = "2026-12-24T22:00"\nend = "2026-12-25T01:00"\nservices = ["x"]\n',
             "unknown key 'maintenance.services'")]:
        config.write_text("[[maintenance]]\n" + body)
        with pytest.raises(ConfigError, match=problem):
            load_config(config)


def test_http_token_rules(tmp_path: Path) -> None:
    config = tmp_path / "detector.toml"
    config.write_text('[http]\nlisten = "0.0.0.0:9464"\ntoken = "${TOKEN}"\n'
                      'token_for_reads = true\nmax_connections = 64\n')
    http = load_config(config, env={"TOKEN": "a" * 24}).http
    assert (http.token, http.token_for_reads, http.max_connections, http.loopback) == (
        "a" * 24, True, 64, False)
    assert load_config(None).http.loopback
    config.write_text('[http]\ntoken = "short"\n')
    with pytest.raises(ConfigError, match="at least 16 characters"):
        load_config(config)
    config.write_text('[http]\ntoken_for_reads = true\n')
    with pytest.raises(ConfigError, match=r"needs http\.token"):
        load_config(config)


def test_plan_silence_checks_what_it_is_given() -> None:
    match, starts, ends = plan_silence(services=["worker-*"], duration=7200, now=NOW)
    assert (match.services, starts, ends) == (("worker-*",), NOW, NOW + 7200)
    for kwargs, problem in [({"duration": 60}, "at least one of class"),
                            ({"classes": ["x"]}, "how long"),
                            ({"classes": ["x"], "duration": 60, "ends": NOW + 5}, "how long"),
                            ({"classes": ["x"], "ends": NOW - 5}, "end in the future"),
                            ({"classes": [" "], "duration": 60}, "must not be empty")]:
        with pytest.raises(ValueError, match=problem):
            plan_silence(now=NOW, **kwargs)  # type: ignore[arg-type]


def test_history_keeps_the_latest_event_and_forgets_old_resolved_ones(outbox: Outbox) -> None:
    history = History(outbox.db, retention=86400)
    history.record(event("open"), "abc123", NOW)
    history.record(event("update", count=4), "abc123", NOW)
    (record,) = history.query()
    assert (record.state, record.silenced, record.event["count"]) == ("open", "abc123", 4)
    old = event("resolve", incident="old")
    old["last_seen"] = "2026-11-01T00:00:00Z"
    history.record(old, None, NOW)
    assert [r.event["id"] for r in history.query(state="resolved")] == ["old"]
    assert history.query(state="resolved", since=NOW - 3600) == []
    assert [r.event["id"] for r in history.find("ol")] == ["old"]
    assert history.forget(NOW) == 1
    assert history.close_missing([]) == 1
    assert history.query(state="open") == []


def test_the_outbox_file_is_private(tmp_path: Path) -> None:
    with Outbox.in_state_dir(tmp_path / "state") as box:
        assert oct(box.path.stat().st_mode & 0o777) == "0o600"
        assert isinstance(box.db, sqlite3.Connection)

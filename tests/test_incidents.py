"""Incident lifecycle in event time: open, throttled update, resolve, reopen."""

from __future__ import annotations

from detector.incidents import IncidentTracker, Occurrence, iso, mask_ids
from detector.model import Kind, Severity

KEYS = ("event", "id", "kind", "class", "pattern", "severity", "service", "fingerprint",
        "first_seen", "last_seen", "count", "summary", "fields", "samples", "runbook")


def tracker() -> IncidentTracker:
    return IncidentTracker(resolve_after=600, update_interval=300)


def occur(t: IncidentTracker, when: float, key: str = "lock:smart_bot:1", service: str = "api",
          sample: str = "LockError: x"):  # type: ignore[no-untyped-def]
    return t.observe(Occurrence(
        kind=Kind.SIGNATURE, cls="lock_timeout", service=service, key={"lock": key},
        severity=Severity.ERROR, summary="Redis lock not acquired", sample=sample, when=when,
        pattern="redis.lock_error", runbook={"title": "t", "steps": ["s"]}))


def test_the_event_json_has_exactly_the_design_keys() -> None:
    (event,) = occur(tracker(), 1795168803.0)
    assert tuple(event) == KEYS
    assert event["event"] == "open"
    assert event["first_seen"] == "2026-11-20T10:00:03Z"
    assert event["count"] == 1
    assert event["fields"] == {"lock": "lock:smart_bot:1"}


def test_repeats_are_one_incident_with_throttled_updates() -> None:
    t = tracker()
    events = []
    for second in range(0, 1000, 10):              # a line every 10 s for ~17 minutes
        events += occur(t, 1000.0 + second)
    kinds = [e["event"] for e in events]
    assert kinds == ["open", "update", "update", "update"]   # at 300 s, 600 s, 900 s
    assert [e["count"] for e in events] == [1, 31, 61, 91]
    assert len({e["id"] for e in events}) == 1


def test_quiet_for_resolve_after_resolves_then_a_new_occurrence_reopens() -> None:
    t = tracker()
    (opened,) = occur(t, 1000.0)
    occur(t, 1100.0)
    assert t.tick(1699.0) == []
    (resolved,) = t.tick(1700.0)
    assert resolved["event"] == "resolve"
    assert resolved["id"] == opened["id"]
    assert resolved["last_seen"] == iso(1100.0)
    assert resolved["count"] == 2
    (reopened,) = occur(t, 2000.0)
    assert reopened["event"] == "open" and reopened["id"] != opened["id"]


def test_an_occurrence_after_the_quiet_window_resolves_before_it_opens() -> None:
    t = tracker()
    occur(t, 1000.0)
    events = occur(t, 5000.0)            # no tick in between (a coarse watermark)
    assert [e["event"] for e in events] == ["resolve", "open"]


def test_ids_in_fingerprints_are_masked_so_bots_share_an_incident() -> None:
    assert mask_ids("lock:smart_bot:123abc") == "lock:smart_bot:<id>"
    assert mask_ids("lock:smart_bot:ffddad") == "lock:smart_bot:<id>"
    assert mask_ids("worker deface ready") == "worker deface ready"
    assert mask_ids("postgres:5432") == "postgres:5432"
    assert mask_ids("status 429") == "status 429"
    t = tracker()
    assert occur(t, 1.0, key="lock:smart_bot:123abc")[0]["event"] == "open"
    assert occur(t, 2.0, key="lock:smart_bot:9f8e7d") == []
    assert occur(t, 3.0, key="lock:sync_orders:9f8e7d")[0]["event"] == "open"


def test_services_are_separate_incidents() -> None:
    t = tracker()
    assert occur(t, 1.0, service="api")[0]["event"] == "open"
    assert occur(t, 2.0, service="worker")[0]["event"] == "open"


def test_samples_are_redacted_and_bounded() -> None:
    t = tracker()
    for i in range(5):
        events = occur(t, 1.0 + i * 400, sample=f"LockError password=hunter{i}")
    assert events[0]["event"] == "update"
    assert len(events[0]["samples"]) == 3
    assert all("hunter" not in s for s in events[0]["samples"])


def test_open_incidents_survive_a_snapshot() -> None:
    t = tracker()
    occur(t, 1000.0)
    restored = tracker()
    restored.restore(t.snapshot())
    assert occur(restored, 1010.0) == []
    (event,) = restored.tick(1610.0)
    assert event["event"] == "resolve" and event["count"] == 2


def test_an_open_incident_moves_to_another_tracker_and_is_counted_there_not_opened() -> None:
    """A partition moved: the new owner takes the service's open incidents with their ids
    and fingerprints, so the next occurrence is an update of the same incident."""
    import json

    home, other = tracker(), tracker()
    (opened,) = occur(home, 1000.0)
    occur(home, 1000.0, service="db")
    occur(other, 1000.0, service="web")
    part = json.loads(json.dumps(home.snapshot_services(["api"])))
    assert [i["service"] for i in part["incidents"]] == ["api"]
    other.restore_services(part)
    assert sorted(i.service for i in other.open.values()) == ["api", "web"]
    (update,) = occur(other, 1400.0)
    assert (update["event"], update["id"], update["count"]) == ("update", opened["id"], 2)
    other.forget_services(["api"])
    assert [i.service for i in other.open.values()] == ["web"]
    assert [e["service"] for e in other.tick(5000.0)] == ["web"]   # no resolve of "api" here


def test_a_moved_incident_does_not_replace_a_fresher_one_and_bounds_hold() -> None:
    home, other = tracker(), tracker()
    occur(home, 1000.0)
    occur(other, 1000.0)
    occur(other, 1200.0)                                     # the receiver saw it later
    other.restore_services(home.snapshot_services(["api"]))
    (incident,) = other.open.values()
    assert (incident.last_seen, incident.count) == (1200.0, 2)
    small = IncidentTracker(resolve_after=600, update_interval=300, max_open=3)
    for n in range(3):
        occur(small, 1000.0 + n, service=f"own-{n}")
    many = tracker()
    for n in range(5):
        occur(many, 2000.0 + n, service=f"svc-{n}")
    small.restore_services(many.snapshot_services([f"svc-{n}" for n in range(5)]))
    assert sorted(i.service for i in small.open.values()) == ["svc-2", "svc-3", "svc-4"]

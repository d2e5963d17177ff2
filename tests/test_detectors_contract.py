"""Every detector through the same checks: the Detector interface, a JSON round trip of its
learned state, bounded memory, and work that does not grow with a gap in time."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import pytest

from detector.config import DetectConfig
from detector.detect.base import Detector
from detector.detect.novelty import NoveltyDetector
from detector.detect.rates import RateDetector
from detector.incidents import Finding, IncidentTracker
from detector.model import ERROR, Event

T0 = 1795132800.0          # 2026-11-20T00:00:00Z
CONFIG = replace(DetectConfig(), novelty_warmup=60.0, rate_grace=600.0)
DETECTORS: dict[str, Callable[[DetectConfig], Detector]] = {
    "rates": RateDetector,
    "novelty": NoveltyDetector,
}


def error(when: float, text: str, service: str = "api") -> Event:
    return Event(time=when, service=service, level=ERROR, text=text, source="test")


def drive(detector: Detector, start: float, minutes: int, per_minute: int = 2,
          service: str = "api", text: str = "payment {n} failed: card declined") -> list[Finding]:
    found: list[Finding] = []
    detector.seen(service, start)
    for minute in range(minutes):
        for k in range(per_minute):
            when = start + minute * 60 + k
            found.extend(detector.observe(error(when, text.format(n=minute * 10 + k),
                                                service), None, when))
        found.extend(detector.advance(start + minute * 60 + 30))
    return found


def opened(findings: Sequence[Finding]) -> list[tuple[str, str, str]]:
    tracker = IncidentTracker(resolve_after=600, update_interval=300)
    events = [e for f in findings for e in tracker.apply(f)]
    return [(e["kind"], e["service"], e["summary"]) for e in events if e["event"] == "open"]


@pytest.fixture(params=sorted(DETECTORS))
def make(request: pytest.FixtureRequest) -> Callable[[], Detector]:
    return lambda: DETECTORS[request.param](CONFIG)


def test_a_detector_has_a_name_and_returns_findings_instead_of_calling_back(
        make: Callable[[], Detector]) -> None:
    detector = make()
    assert detector.name in DETECTORS
    found = drive(detector, T0, 90)
    assert all(isinstance(f, Finding) for f in found)


def test_learned_state_goes_through_json_and_comes_back_the_same(
        make: Callable[[], Detector]) -> None:
    detector = make()
    drive(detector, T0, 120)
    saved = detector.snapshot()
    assert saved["version"] >= 1
    text = json.dumps(saved)                      # plain JSON: no pickled objects
    fresh = make()
    fresh.restore(json.loads(text))
    assert fresh.snapshot() == json.loads(text)


def test_a_restored_detector_behaves_as_the_one_that_kept_running(
        make: Callable[[], Detector]) -> None:
    def scenario(restart: bool) -> list[tuple[str, str, str]]:
        detector = make()
        found = drive(detector, T0, 120)
        if restart:
            fresh = make()
            fresh.restore(json.loads(json.dumps(detector.snapshot())))
            detector = fresh
        found += drive(detector, T0 + 7200, 10, per_minute=40,
                       text="ledger {n} rejected by upstream")
        return opened(found)

    assert scenario(restart=True) == scenario(restart=False) != []


def test_memory_is_bounded_however_many_services_and_shapes_arrive(
        make: Callable[[], Detector]) -> None:
    config = replace(CONFIG, rate_max_keys=20, novelty_max_templates=15)
    detector = type(make())(config)               # type: ignore[call-arg]
    for n in range(200):
        when = T0 + n
        detector.observe(error(when, f"shape{n} {'x' * (n % 7)} broke {n}", f"svc-{n % 50}"),
                         None, when)
        detector.observe(error(when, f"word{n} unique thing {n}", "api"), None, when)
    saved = detector.snapshot()
    if isinstance(detector, RateDetector):
        assert len(saved["keys"]) <= 20
    else:
        assert all(len(s["templates"]) <= 15 for s in saved["services"].values())


@pytest.mark.parametrize("gap_years", [1, 30, 8000])
def test_work_grows_with_events_never_with_a_gap_in_time(
        make: Callable[[], Detector], gap_years: int) -> None:
    """A line from year 1 or 9999 must not make the detector walk every window between
    (it froze the daemon for minutes per key): this test would time out."""
    detector = make()
    drive(detector, T0, 40)
    later = T0 + gap_years * 365.25 * 86400
    found = drive(detector, later, 40)
    found += detector.advance(later + 3600)
    assert all(isinstance(f, Finding) for f in found)


def test_a_snapshot_of_another_version_is_refused_not_half_read(
        make: Callable[[], Detector]) -> None:
    from detector.errors import StateError

    detector = make()
    drive(detector, T0, 30)
    saved = detector.snapshot()
    saved["version"] = 99
    with pytest.raises(StateError):
        make().restore(saved)


def test_rate_detectors_keep_their_baseline_when_the_window_changes() -> None:
    detector = RateDetector(CONFIG)
    drive(detector, T0, 120, per_minute=6)
    saved = json.loads(json.dumps(detector.snapshot()))
    wider = RateDetector(replace(CONFIG, rate_window=120.0))
    wider.restore(saved)
    before = detector.keys[("api", "error_rate")]
    after = wider.keys[("api", "error_rate")]
    assert after.baseline()[0] == pytest.approx(before.baseline()[0] * 2)


# -- state that follows a service to another process (detector.detect.base.ServiceState) --
def test_a_detector_keeps_its_state_per_service(make: Callable[[], Any]) -> None:
    from detector.detect.base import ServiceState

    assert isinstance(make(), ServiceState)


def test_one_service_goes_to_another_detector_through_json_and_behaves_there_as_at_home(
        make: Callable[[], Any]) -> None:
    """What was learned about "api" moves; the receiver's own "web" is untouched, and
    "api" is judged there as it would have been where it was learned."""
    def scenario(moved: bool) -> list[tuple[str, str, str]]:
        home = make()
        found = drive(home, T0, 120) + drive(home, T0, 120, service="db")
        if moved:
            other = make()
            drive(other, T0, 120, service="web", text="render {n} failed")
            web_before = other.snapshot_services(["web"])
            part = json.loads(json.dumps(home.snapshot_services(["api"])))
            assert part["version"] == home.snapshot()["version"]
            assert "db" not in json.dumps(part)               # only the services asked for
            other.restore_services(part)
            assert other.snapshot_services(["web"]) == web_before
            assert other.snapshot_services(["api"]) == part
            home = other
        found += drive(home, T0 + 7200, 10, per_minute=40, text="ledger {n} rejected by upstream")
        return [o for o in opened(found) if o[1] == "api"]

    assert scenario(moved=True) == scenario(moved=False) != []


def test_a_moved_service_replaces_what_the_receiver_held_and_can_be_forgotten(
        make: Callable[[], Any]) -> None:
    home, other = make(), make()
    drive(home, T0, 120)
    drive(other, T0, 5, text="stale {n} shape")                # a few stray lines of "api"
    part = home.snapshot_services(["api"])
    other.restore_services(json.loads(json.dumps(part)))
    assert other.snapshot_services(["api"]) == part
    other.forget_services(["api"])
    assert "api" not in json.dumps(other.snapshot())


def test_moved_services_keep_the_receiver_bounded(make: Callable[[], Any]) -> None:
    config = replace(CONFIG, rate_max_keys=20, novelty_max_templates=15)
    kind = type(make())
    home, other = kind(config), kind(config)
    for n in range(100):
        when = T0 + n
        home.observe(error(when, f"shape{n} broke {n}", f"svc-{n % 30}"), None, when)
        other.observe(error(when, f"form{n} bent {n}", f"own-{n % 30}"), None, when)
    other.restore_services(home.snapshot_services(
        [f"svc-{n}" for n in range(30)]))
    saved = other.snapshot()
    if isinstance(other, RateDetector):
        assert len(saved["keys"]) <= 20
    else:
        assert all(len(s["templates"]) <= 15 for s in saved["services"].values())


def test_a_partial_snapshot_of_another_version_is_refused_and_changes_nothing(
        make: Callable[[], Any]) -> None:
    from detector.errors import StateError

    detector = make()
    drive(detector, T0, 30)
    before = detector.snapshot()
    part = detector.snapshot_services(["api"])
    part["version"] = 99
    with pytest.raises(StateError):
        detector.restore_services(part)
    assert detector.snapshot() == before

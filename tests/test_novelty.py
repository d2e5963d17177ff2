"""New error shapes: masking, templates, warm-up, and what stops being new."""

from __future__ import annotations

from typing import Any

from detector.config import DetectConfig
from detector.detect.novelty import NoveltyDetector
from detector.detect.templates import TemplateTree, mask
from detector.incidents import IncidentTracker
from detector.model import ERROR, INFO, Event

T0 = 1795132800.0


def test_mask_replaces_what_varies() -> None:
    assert mask("2026-11-20 10:00:03,114 ERROR user 4242 at 10.0.0.7:5432 failed "
                "'token' /var/lib/x.db 0x7f1c2d id=9f8e7d6c "
                "c0a8012e-1b2c-4d5e-8f90-123456789abc https://api.x.io/a?b=1 bob@x.io") == [
        "<TS>", "ERROR", "user", "<NUM>", "at", "<IP>", "failed", "'token'", "<PATH>",
        "<HEX>", "id=<*>", "<UUID>", "<URL>", "<EMAIL>"]


def test_similar_messages_share_a_template_and_widen_it() -> None:
    tree = TemplateTree(max_templates=100)
    first, new = tree.match(mask("cache stale for user 1: snapshot missing in eu-1"), 1.0)
    assert new
    again, new = tree.match(mask("cache stale for user 2: snapshot missing in us-2"), 2.0)
    assert not new and again is first
    assert first.text == "cache stale for user <NUM>: snapshot missing in <*>"
    _, new = tree.match(mask("payment provider refused the card"), 3.0)
    assert new


def test_templates_are_capped_and_expire() -> None:
    tree = TemplateTree(max_templates=3)
    for n, word in enumerate(["alpha", "bravo", "charlie", "delta"]):
        tree.match([word, "broke", "down", "badly"], float(n))
    assert [t.tokens[0] for t in tree.templates()] == ["bravo", "charlie", "delta"]
    tree.forget_older_than(2.5)
    assert [t.tokens[0] for t in tree.templates()] == ["delta"]


class Novelty:
    def __init__(self) -> None:
        self.config = DetectConfig()
        self.tracker = IncidentTracker(resolve_after=600, update_interval=300)
        self.events: list[dict[str, Any]] = []
        self.detector = NoveltyDetector(self.config)

    def error(self, text: str, when: float, level: int = ERROR) -> None:
        event = Event(time=when, service="api", level=level, text=text, source="t")
        for finding in self.detector.observe(event, None, when):
            self.events.extend(self.tracker.apply(finding))


def test_nothing_is_new_during_warm_up_then_new_shapes_open_incidents() -> None:
    novelty = Novelty()
    novelty.detector.seen("api", T0)
    novelty.error("ERROR cache stale for user 1", T0 + 60)
    assert novelty.events == []                                # warming up: learned silently
    novelty.error("ERROR cache stale for user 2", T0 + 7200)   # known shape
    assert novelty.events == []
    novelty.error("ERROR payment provider refused card 4", T0 + 7300)
    (opened,) = novelty.events
    assert (opened["kind"], opened["class"], opened["event"]) == (
        "new_error", "unhandled_exception", "open")
    assert opened["summary"] == "New error in api: payment provider refused card <NUM>"
    assert opened["fields"]["template"] == "payment provider refused card <NUM>"


def test_a_recurring_template_stops_being_new() -> None:
    novelty = Novelty()
    novelty.detector.seen("api", T0)
    for minute in range(0, 180, 5):
        novelty.error("ERROR payment provider refused card 4", T0 + 7200 + minute * 60)
    counted = [e for e in novelty.events if e["kind"] == "new_error"]
    assert counted[0]["event"] == "open"
    assert counted[-1]["count"] <= 3                           # counted only while new


def test_info_lines_and_signature_matches_are_not_novelty() -> None:
    novelty = Novelty()
    novelty.detector.seen("api", T0)
    novelty.error("INFO brand new message", T0 + 7200, level=INFO)
    assert novelty.events == []


def test_templates_survive_a_restart() -> None:
    first = Novelty()
    first.detector.seen("api", T0)
    first.error("ERROR cache stale for user 1", T0 + 7200)
    saved = first.detector.snapshot()
    second = Novelty()
    second.detector.restore(saved)
    second.error("ERROR cache stale for user 99", T0 + 9000)
    assert [e["summary"] for e in second.events] == []


def test_the_template_has_no_time_level_or_logger() -> None:
    novelty = Novelty()
    novelty.detector.seen("api", T0)
    novelty.error("2026-11-20 12:00:00,114 ERROR billing.charge: card 4 declined by bank", T0 + 7200)
    novelty.error("2026-11-20 12:00:05,002 ERROR billing.charge: card 9 declined by bank", T0 + 7205)
    assert {e["fields"]["template"] for e in novelty.events} == {"card <NUM> declined by bank"}


def test_templates_saved_before_version_2_are_restored() -> None:
    saved = {"api": {"first_seen": T0, "templates": [
        {"id": "07ad83dc8dbb", "tokens": ["ERROR", "cache", "stale", "for", "user", "<NUM>"],
         "first_seen": T0, "last_seen": T0 + 60, "count": 2}]}}
    novelty = Novelty()
    novelty.detector.restore(saved)
    novelty.error("ERROR cache stale for user 99", T0 + 9000)
    assert novelty.events == []
    (template,) = novelty.detector.snapshot()["services"]["api"]["templates"]["templates"]
    assert template["id"] == "07ad83dc8dbb" and template["count"] == 3

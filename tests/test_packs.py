"""Pattern packs: the shipped ones are complete; a broken pack is a located error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from detector.errors import ConfigError
from detector.match.engine import build_engine
from detector.match.examples import check_examples
from detector.match.packs import BUILTIN_CLASSES, load_packs, shipped_packs_dir


def test_every_class_of_the_design_has_patterns(shipped_patterns) -> None:  # type: ignore[no-untyped-def]
    covered = {p.cls for p in shipped_patterns}
    assert set(BUILTIN_CLASSES) <= covered


def test_every_shipped_pattern_is_complete(shipped_patterns) -> None:  # type: ignore[no-untyped-def]
    """Examples and near misses for each; a runbook of its own, or its class's."""
    from detector.match.knowledge import load_classes
    from detector.match.packs import shipped_packs_dir

    classes = load_classes(shipped_packs_dir() / "knowledge" / "classes.toml")
    for pattern in shipped_patterns:
        assert len(pattern.examples_match) >= 3, pattern.id
        assert len(pattern.examples_no_match) >= 2, pattern.id
        book = pattern.runbook or classes[pattern.cls].runbook
        assert book is not None and book.steps, pattern.id


FORBIDDEN = re.compile(r"\d{3}_[0-9a-f]{16}|seed guide|smart_bot|BACKFILL_MAX|localhost:8000/context"
                       r"|alembic log\b|Crypteras|PyTake|Botcrypto|the guide", re.I)


def test_runbooks_fit_every_reader(shipped_patterns) -> None:  # type: ignore[no-untyped-def]
    """Generic and correct: no company's names, no references to source documents."""
    from detector.match.knowledge import load_classes
    from detector.match.packs import shipped_packs_dir

    classes = load_classes(shipped_packs_dir() / "knowledge" / "classes.toml")
    books = [p.runbook for p in shipped_patterns if p.runbook] + [
        c.runbook for c in classes.values() if c.runbook]
    for book in books:
        text = " ".join([book.title, *book.steps])
        assert not FORBIDDEN.search(text), text[:200]


@pytest.mark.parametrize("line", [
    "VersionConflictError: Bot 123abc foi modificado por outro processo",
    "LockError: Unable to acquire lock on lock:smart_bot:123abc after 10 seconds",
    "psycopg2.errors.DeadlockDetected: Deadlock detected",
    "429 Too Many Requests",
    "RuntimeWarning: Task was destroyed but it is pending!",
    "Unclosed client session",
    "coroutine 'BinanceTradeHistory._backfill_parallel...' was never awaited",
    "Error connecting to PostgreSQL at postgres:5432",
    "ServerSelectionTimeoutError: localhost:27017: [Errno 111] Connection refused",
    "401 Unauthorized: Token expired",
    "400 Bad Request: Invalid webhook signature",
    "sqlalchemy.exc.ProgrammingError: relation \"whatsapp_template\" does not exist",
    "FAILED target database is ahead of current heads",
    "ERROR: Query sem filtro de organization_id detectado",
    "Multi-tenancy violation detected",
    "ImportError: cannot import name 'celery_app'",
    "Timeout waiting for backfill",
    "WebSocket connection closed",
    "MemoryError",
])
def test_seed_symptoms_are_recognised(hs_engine, line: str) -> None:  # type: ignore[no-untyped-def]
    assert hs_engine.classify_text(line) is not None, line


@pytest.mark.parametrize("line", [
    '"GET /locks HTTP/1.1" 200 429',
    '"GET /x?limit=429" 200 418',
    "Lock released",
    "deadlock_timeout = 1s",
    "retry_count=418",
    "Token expires in 300s",
])
def test_design_near_misses_are_not_incidents(hs_engine, line: str) -> None:  # type: ignore[no-untyped-def]
    assert hs_engine.classify_text(line) is None, line


def test_all_examples_hold_on_both_engines(hs_engine, regex_engine) -> None:  # type: ignore[no-untyped-def]
    assert check_examples(hs_engine) == []
    assert check_examples(regex_engine) == []


def pack(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "extra.toml"
    path.write_text(body)
    return path


GOOD = '''
[[pattern]]
id = "acme.widget_jam"
class = "widget_jam"
severity = "warning"
title = "Widget jammed"
regex = 'Widget (?P<widget>\\w+) jammed'
examples.match = ["Widget w1 jammed"]
[pattern.runbook]
title = "Unjam it"
steps = ["Turn it off and on."]
'''


def test_a_user_pack_adds_a_class(tmp_path: Path) -> None:
    patterns = load_packs([pack(tmp_path, GOOD)])
    engine = build_engine(patterns, engine="regex")
    found = engine.classify_text("2026-11-20 10:00:00 ERROR Widget w7 jammed")
    assert found is not None and found.pattern.cls == "widget_jam"
    assert found.fields == {"widget": "w7"}


@pytest.mark.parametrize(("change", "expected"), [
    (("'Widget (?P<widget>\\w+) jammed'", "'Widget (?P<widget>\\w+ jammed'"), ":7: pattern acme.widget_jam: unsupported regex syntax"),
    (('severity = "warning"', 'severity = "meh"'), ":5: pattern.severity must be one of"),
    (('id = "acme.widget_jam"', 'id = "Widget"'), ":3: pattern id 'Widget' must look like"),
    (('examples.match = ["Widget w1 jammed"]', 'examples.match = []'), "needs at least 1 examples.match"),
    (('title = "Widget jammed"', 'title = "Widget jammed"\nfingerprint = ["colour"]'), "fingerprint field 'colour' is not a named group"),
    (('title = "Widget jammed"', 'title = "Widget jammed"\ncolour = "red"'), ":7: unknown key 'pattern.colour'"),
    (('steps = ["Turn it off and on."]', 'steps = []'), "runbook.steps must list what to do"),
])
def test_pack_mistakes_are_located(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    body = GOOD.replace(*change)
    assert body != GOOD
    with pytest.raises(ConfigError) as caught:
        load_packs([pack(tmp_path, body)])
    assert expected in caught.value.located()
    assert caught.value.located().startswith(str(tmp_path / "extra.toml"))


def test_duplicate_ids_across_packs(tmp_path: Path) -> None:
    first = pack(tmp_path, GOOD)
    second = tmp_path / "again.toml"
    second.write_text(GOOD)
    with pytest.raises(ConfigError, match="already defined"):
        load_packs([first, second])


def test_shipped_packs_are_strict_about_examples(tmp_path: Path) -> None:
    strict_dir = tmp_path / "strict"
    strict_dir.mkdir()
    (strict_dir / "p.toml").write_text(GOOD)
    with pytest.raises(ConfigError, match=r"needs at least 3 examples\.match"):
        load_packs([strict_dir], strict=[strict_dir])


def test_failing_example_is_reported_with_location(tmp_path: Path) -> None:
    body = GOOD.replace('examples.match = ["Widget w1 jammed"]',
                        'examples.match = ["Widget w1 jammed", "Gadget g1 jammed"]')
    engine = build_engine(load_packs([pack(tmp_path, body)]), engine="regex")
    problems = [p.located() for p in check_examples(engine)]
    assert problems == [f"{tmp_path / 'extra.toml'}:8: pattern acme.widget_jam: match "
                        "example 2 'Gadget g1 jammed' matches nothing"]


def test_disable_by_id_or_class(shipped_patterns) -> None:  # type: ignore[no-untyped-def]
    remaining = load_packs([shipped_packs_dir()], disable=["server_error", "redis.lock_error"])
    ids = {p.id for p in remaining}
    assert "redis.lock_error" not in ids
    assert not any(p.cls == "server_error" for p in remaining)
    assert len(remaining) < len(shipped_patterns)
    with pytest.raises(ConfigError, match="names no loaded pattern or class: nonsense"):
        load_packs([shipped_packs_dir()], disable=["nonsense"])

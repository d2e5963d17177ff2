"""One type → class table for sources and one for notifiers; config, code and docs agree."""

from __future__ import annotations

import re
from pathlib import Path

from detector.config.notify import NOTIFY_TYPES
from detector.config.sources import SOURCE_READERS, SOURCE_TYPES
from detector.notify import NOTIFIERS
from detector.sources import SOURCES

DOCS = Path(__file__).resolve().parents[1] / "docs"


def documented(page: str) -> set[str]:
    """The types a docs page describes: one ``## `type` `` heading each."""
    return set(re.findall(r"^## `(\w+)`", (DOCS / page).read_text(), re.M))


def test_every_source_type_is_read_run_and_documented() -> None:
    assert set(SOURCE_TYPES) == set(SOURCE_READERS) == set(SOURCES)
    assert documented("sources.md") == set(SOURCES)


def test_every_notifier_type_is_read_run_and_documented() -> None:
    assert set(NOTIFY_TYPES) == set(NOTIFIERS)
    assert all(NOTIFIERS[kind].type == kind for kind in NOTIFIERS)
    assert documented("notifications.md") == set(NOTIFIERS)

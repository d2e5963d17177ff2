"""Prefilter translations kept between runs: the same translations, fewer of them made."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.errors import ConfigError
from detector.match import packs
from detector.match.packs import load_packs, shipped_packs_dir
from detector.match.translate import check_portable, memo
from detector.match.translate.memo import Translations

PACK = '''
[[pattern]]
id = "app.thing"
class = "unhandled_exception"
title = "Thing"
regex = 'ThingError: (?P<what>\\w+)'
examples.match = ["ThingError: boom"]
[pattern.runbook]
title = "t"
steps = ["s"]
'''


def test_a_second_load_translates_nothing_and_gives_the_same_patterns(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_packs([shipped_packs_dir()], cache=tmp_path)
    assert len(list(tmp_path.glob("translations-*.json"))) == 1

    def refuse(pattern: str) -> str:
        raise AssertionError(f"translated again: {pattern}")

    monkeypatch.setattr(memo, "check_portable", refuse)
    second = load_packs([shipped_packs_dir()], cache=tmp_path)
    assert [(p.id, p.prefilter) for p in second] == [(p.id, p.prefilter) for p in first]
    assert all(p.prefilter == check_portable(p.source) for p in second)


def test_without_a_cache_directory_nothing_is_kept(tmp_path: Path) -> None:
    translations = Translations(None)
    assert translations.check_portable("LockError") == check_portable("LockError")
    translations.save()
    assert translations.path is None


def test_a_corrupt_file_is_an_empty_one(tmp_path: Path) -> None:
    translations = Translations(tmp_path)
    assert translations.path is not None
    translations.path.write_text("{not json")
    again = Translations(tmp_path)
    assert again.known == {}
    assert again.check_portable("LockError") == check_portable("LockError")
    again.save()
    assert Translations(tmp_path).known == {"LockError": check_portable("LockError")}


def test_a_pattern_that_fails_is_reported_every_time(tmp_path: Path) -> None:
    pack = tmp_path / "bad.toml"
    pack.write_text(PACK.replace("ThingError: (?P<what>\\w+)", "(?s)ThingError.*"))
    assert "(?s)" in pack.read_text()
    for _ in range(2):
        with pytest.raises(ConfigError, match="not allowed"):
            load_packs([pack], cache=tmp_path / "cache")
    assert packs.Translations(tmp_path / "cache").known == {}


def test_the_file_name_follows_the_translator(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    before = Translations(tmp_path).path
    monkeypatch.setattr(memo, "_VERSION", b"translations v0")
    assert Translations(tmp_path).path != before

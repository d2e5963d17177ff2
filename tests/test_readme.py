"""The README's facts are the packs' facts, and its figures are the docs' figures."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def test_class_table_counts_match_the_packs(shipped_patterns) -> None:  # type: ignore[no-untyped-def]
    table = dict(re.findall(r"^\| `(\w+)` \| .+? \| (\d+) \|$", README.read_text(), re.M))
    counts = Counter(p.cls for p in shipped_patterns)
    assert {cls: int(n) for cls, n in table.items()} == dict(counts)


def test_pattern_total_matches_the_packs(shipped_patterns) -> None:  # type: ignore[no-untyped-def]
    assert f"{len(shipped_patterns)} failure signatures" in README.read_text().replace("\n", " ")


def figures() -> list[tuple[str, str, str]]:
    """(linked page, figure, command) for each row of the README's Figures table."""
    section = README.read_text(encoding="utf-8").split("\n## Figures\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| \[.+?\]\(([^)#]+)(?:#[^)]*)?\) \| (.+?) \| `([^`]+)` \|$",
                      section, re.M)


def test_every_headline_figure_has_a_command_and_is_the_one_behind_its_link() -> None:
    rows = figures()
    assert len(rows) >= 8
    for page, figure, command in rows:
        text = (ROOT / page).read_text(encoding="utf-8")
        assert f"`{command}`" in text, f"{page} does not name the command {command!r}"
        for number in re.findall(r"\d[\d,.]*\d|\d", figure):
            assert number in text, f"{page} does not hold the figure {number} ({figure!r})"

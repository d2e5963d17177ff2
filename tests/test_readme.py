"""The README's facts about the packs are the packs' facts."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_class_table_counts_match_the_packs(shipped_patterns) -> None:  # type: ignore[no-untyped-def]
    table = dict(re.findall(r"^\| `(\w+)` \| .+? \| (\d+) \|$", README.read_text(), re.M))
    counts = Counter(p.cls for p in shipped_patterns)
    assert {cls: int(n) for cls, n in table.items()} == dict(counts)


def test_pattern_total_matches_the_packs(shipped_patterns) -> None:  # type: ignore[no-untyped-def]
    assert f"recognises {len(shipped_patterns)} failure" in README.read_text().replace("\n", " ")

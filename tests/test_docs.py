"""The docs describe the tree that is there: the module map, the links, the config keys."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGE = ROOT / "detector"


def module_map() -> list[str]:
    """The paths named at the start of each line of architecture.md's module map."""
    text = (DOCS / "architecture.md").read_text()
    section = text.split("\n## Module map\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^- `(detector/[^`]*)` — \S", section, re.M)


def modules_and_packages() -> set[str]:
    """Every package (as ``detector/name/``) and every module other than ``__init__.py``
    and ``__main__.py`` (as its path) under ``detector/``."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if "__pycache__" in relative.parts:
            continue
        if path.name in ("__init__.py", "__main__.py"):
            if path.name == "__init__.py":
                found.add(f"{relative.parent.as_posix()}/")
        else:
            found.add(relative.as_posix())
    return found


def test_the_module_map_names_every_module_and_package_once() -> None:
    listed = module_map()
    duplicates = sorted({p for p in listed if listed.count(p) > 1})
    assert not duplicates, f"listed twice in docs/architecture.md: {duplicates}"
    tree = modules_and_packages()
    missing = sorted(tree - set(listed))
    gone = sorted(set(listed) - tree)
    assert not missing, f"add a line to the module map in docs/architecture.md: {missing}"
    assert not gone, f"the module map names what is not in detector/: {gone}"

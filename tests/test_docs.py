"""The docs describe the tree that is there: the module map, the links, the config keys."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGE = ROOT / "detector"


def module_map() -> list[str]:
    """The paths named at the start of each line of architecture.md's module map."""
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
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


# -- links ------------------------------------------------------------------------------------

PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted(DOCS.glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """The heading anchors GitHub gives a page."""
    found = set()
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    for heading in re.findall(r"^#+ (.+)$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def test_every_relative_link_points_to_a_file_and_heading_that_exist() -> None:
    broken = []
    for page in PAGES:
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue                                  # https:, mailto:
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_the_readme_stays_a_front_door() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines < 260, f"README.md has {lines} lines: move the detail to docs/"


# -- configuration keys ---------------------------------------------------------------------------

def keys(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)} - {"line", "path"}


def documented_keys(page: str) -> set[str]:
    return set(re.findall(r"`(\w+)`", (DOCS / page).read_text(encoding="utf-8")))


def test_every_config_key_is_documented() -> None:
    from detector.config import (
        DetectConfig,
        HttpConfig,
        LogConfig,
        NotifyConfig,
        PatternsConfig,
        SourceConfig,
        StateConfig,
    )
    from detector.config.sources import SOURCE_READERS

    configuration = documented_keys("configuration.md")
    for cls in (StateConfig, PatternsConfig, DetectConfig, HttpConfig, LogConfig):
        assert keys(cls) <= configuration, (cls.__name__, keys(cls) - configuration)
    sources = documented_keys("sources.md")
    for reader in SOURCE_READERS.values():
        cls = typing.get_type_hints(reader)["return"]
        assert keys(cls) <= sources, (cls.__name__, keys(cls) - sources)
        assert keys(cls) - keys(SourceConfig) <= configuration, cls.__name__
    notifications = documented_keys("notifications.md")
    assert keys(NotifyConfig) <= notifications, keys(NotifyConfig) - notifications
    assert keys(NotifyConfig) <= configuration, keys(NotifyConfig) - configuration

"""Pattern packs: TOML files of failure signatures, each with its runbook.

A pack is data, not code. Loading one checks everything once (ids, classes,
severities, that the regex compiles and can be prefiltered, that fingerprint and
summary fields exist) and reports problems as ``file:line: problem``. The
examples are checked by :mod:`detector.match.examples`, after the engine that
classifies them is built.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import regex

from detector.config.toml import Table, load_toml
from detector.errors import ConfigError
from detector.match.translate import TranslateError
from detector.match.translate.memo import Translations
from detector.model import CRITICAL, ERROR, INFO, NOLEVEL, WARNING, RunbookJSON, Severity

__all__ = ["BUILTIN_CLASSES", "Pattern", "Runbook", "load_packs", "shipped_packs_dir"]

BUILTIN_CLASSES = (
    "version_conflict", "lock_timeout", "deadlock", "rate_limited", "task_leak",
    "dependency_down", "auth_failure", "schema_mismatch", "tenancy_violation",
    "resource_exhaustion", "server_error", "startup_failure", "upstream_timeout",
    "stream_disconnect", "unhandled_exception",
)
# Fields every traceback event carries, usable in `fingerprint` and `summary`.
TRACEBACK_FIELDS = ("exception", "frame")
RegexPattern = regex.Pattern[str]
_ID = re.compile(r"^[a-z0-9_]+(?:\.[a-z0-9_]+)+$")
_CLASS = re.compile(r"^[a-z][a-z0-9_]*$")
_LEVELS = {"none": NOLEVEL, "info": INFO, "warning": WARNING, "error": ERROR,
           "critical": CRITICAL}


@dataclass(frozen=True)
class Runbook:
    title: str
    steps: tuple[str, ...]
    source: str = ""

    def as_json(self) -> RunbookJSON:
        return {"title": self.title, "steps": list(self.steps)}


@dataclass(frozen=True, eq=False)
class Pattern:
    id: str
    cls: str
    severity: Severity
    title: str
    source: str                     # the regex as written
    prefilter: str                  # its byte-level superset for the prefilter engines
    regex: RegexPattern
    context: RegexPattern | None    # extra fields from any line of the same event
    fingerprint: tuple[str, ...]    # fields that identify one incident
    summary: str | None             # format string over fields; default: title + matched line
    priority: int                   # higher wins when several patterns match one event
    min_level: int                  # the event's level must be at least this
    any_level: bool                 # may classify info/debug lines though not a settling wording
    examples_match: tuple[str, ...]
    examples_no_match: tuple[str, ...]
    examples_fields: dict[str, str]  # what the first match example must capture
    examples_lines: tuple[int | None, int | None]   # where match / no_match are written
    runbook: Runbook | None          # None: the class's generic runbook applies
    pack: Path
    line: int | None

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(self.regex.groupindex)

    def where(self) -> str:
        return f"{self.pack}:{self.line}" if self.line else str(self.pack)


def shipped_packs_dir() -> Path:
    """The packs that ship with detector: the checkout's ``patterns/``, or the wheel's."""
    checkout = Path(__file__).resolve().parents[2] / "patterns"
    if checkout.is_dir():
        return checkout
    return Path(str(resources.files("detector") / "_packs"))


def pack_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.glob("*.toml")))
        elif path.is_file():
            files.append(path)
        elif path.exists():
            raise ConfigError(path, None, "a pattern pack must be a TOML file or a directory "
                                          "of them")
        else:
            raise ConfigError(path, None, "pattern pack not found")
    return files


def load_packs(paths: Sequence[Path], *, disable: Iterable[str] = (),
               strict: Sequence[Path] = (), cache: Path | None = None) -> list[Pattern]:
    """Load every pack in ``paths`` (files or directories), in order, then drop disabled.

    Packs under a directory in ``strict`` (the shipped ones) must give at least
    three matching examples and two near misses per pattern; others at least one.
    ``cache``: a directory where the regexes' prefilter translations are kept between
    runs (:mod:`detector.match.translate.memo`).
    """
    patterns: list[Pattern] = []
    seen: dict[str, Pattern] = {}
    strict_dirs = [s.resolve() for s in strict]
    translations = Translations(cache)
    for file in pack_files(paths):
        strict_examples = any(file.resolve().is_relative_to(d) for d in strict_dirs)
        for pattern in _load_pack(file, translations, strict_examples=strict_examples):
            if pattern.id in seen:
                raise ConfigError(file, pattern.line,
                                  f"pattern id {pattern.id!r} is already defined at "
                                  f"{seen[pattern.id].where()}")
            seen[pattern.id] = pattern
            patterns.append(pattern)
    translations.save()
    disabled = set(disable)
    known = {p.id for p in patterns} | {p.cls for p in patterns}
    unknown = disabled - known
    if unknown:
        raise ConfigError(None, None, "patterns.disable names no loaded pattern or class: "
                                      + ", ".join(sorted(unknown)))
    return [p for p in patterns if p.id not in disabled and p.cls not in disabled]


def _load_pack(file: Path, translations: Translations, *,
               strict_examples: bool) -> list[Pattern]:
    data, lines = load_toml(file)
    top = Table(data, (), file, lines, env={}, expand=False)
    meta = top.table("pack")
    meta.text("name", file.stem)
    meta.text("description", "")
    meta.done()
    patterns = [_read_pattern(t, file, translations, strict_examples)
                for t in top.tables("pattern")]
    top.done()
    if not patterns:
        raise ConfigError(file, None, "a pack needs at least one [[pattern]]")
    return patterns


def _read_pattern(t: Table, file: Path, translations: Translations,
                  strict_examples: bool) -> Pattern:
    pattern_id = t.required_str("id")
    if not _ID.match(pattern_id):
        raise t.error("id", f"pattern id {pattern_id!r} must look like 'domain.name' "
                            "(lowercase letters, digits, underscores)")
    cls = t.required_str("class")
    if not _CLASS.match(cls):
        raise t.error("class", f"class {cls!r} must be lowercase letters, digits, underscores")
    severity = Severity(t.choice("severity", "error", tuple(Severity)))
    title = t.required_str("title")
    source = t.required_str("regex")
    try:
        translated = translations.check_portable(source)
        compiled = regex.compile(source, regex.MULTILINE | regex.VERSION0)
    except TranslateError as exc:
        raise t.error("regex", f"pattern {pattern_id}: {exc}") from None
    except regex.error as exc:
        raise t.error("regex", f"pattern {pattern_id}: regex does not compile: {exc}") from None
    context = None
    context_source: str | None = t.text("context", None)
    if context_source is not None:
        try:
            translations.check_portable(context_source)
            context = regex.compile(context_source, regex.MULTILINE | regex.VERSION0)
        except TranslateError as exc:
            raise t.error("context", f"pattern {pattern_id}: context: {exc}") from None
        except regex.error as exc:
            raise t.error("context", f"pattern {pattern_id}: context does not compile: "
                                     f"{exc}") from None
        if not context.groupindex:
            raise t.error("context", f"pattern {pattern_id}: context needs named groups "
                                     "(it only adds fields)")
    groups = set(compiled.groupindex) | set(context.groupindex if context else ())
    available = groups | set(TRACEBACK_FIELDS)
    fingerprint = tuple(t.str_list("fingerprint", sorted(groups)))
    for name in fingerprint:
        if name not in available:
            raise t.error("fingerprint", f"pattern {pattern_id}: fingerprint field {name!r} "
                                         "is not a named group of the regex")
    summary: str | None = t.text("summary", None)
    if summary is not None:
        for _text, field_name, _spec, _conv in string.Formatter().parse(summary):
            if field_name is not None and field_name not in available:
                raise t.error("summary", f"pattern {pattern_id}: summary uses {{{field_name}}}, "
                                         "which is not a named group of the regex")
    priority = t.integer("priority", 100)
    min_level = _LEVELS[t.choice("min_level", "none", tuple(_LEVELS))]
    any_level = t.flag("any_level", False)
    examples = t.table("examples")
    matches = tuple(examples.str_list("match"))
    no_matches = tuple(examples.str_list("no_match"))
    expected_fields = examples.str_map("fields")
    for name in expected_fields:
        if name not in available:
            raise examples.error("fields", f"pattern {pattern_id}: examples.fields names "
                                           f"{name!r}, which is not a named group")
    examples.done()
    least_match, least_no_match = (3, 2) if strict_examples else (1, 0)
    if len(matches) < least_match:
        raise t.error("examples", f"pattern {pattern_id}: needs at least {least_match} "
                                  "examples.match")
    if len(no_matches) < least_no_match:
        raise t.error("examples", f"pattern {pattern_id}: needs at least {least_no_match} "
                                  "examples.no_match (near misses)")
    runbook = None
    if t.has("runbook"):
        book = t.table("runbook")
        runbook = Runbook(title=book.required_str("title"),
                          steps=tuple(book.str_list("steps")),
                          source=book.text("source", ""))
        if not runbook.steps:
            raise book.error("steps", f"pattern {pattern_id}: runbook.steps must list what "
                                      "to do")
        book.done()
    t.done()
    return Pattern(id=pattern_id, cls=cls, severity=severity, title=title, source=source,
                   prefilter=translated,
                   regex=compiled, context=context, fingerprint=fingerprint, summary=summary,
                   priority=priority, min_level=min_level, any_level=any_level,
                   examples_match=matches,
                   examples_no_match=no_matches, examples_fields=expected_fields,
                   examples_lines=(t.lines.line((*t.where, "examples", "match")),
                                   t.lines.line((*t.where, "examples", "no_match"))),
                   runbook=runbook, pack=file, line=t.line())

"""The exception knowledge base: exception types, as libraries print them, mapped to classes.

Wording changes with every library version and language; the type of the exception
does not. ``patterns/knowledge/exceptions.toml`` lists the types of the standard
libraries and of the libraries production services use (Python first, and the same
failures in Java, Go, Node, Ruby, .NET…), each mapped to an incident class or to a
base type whose class it inherits, so a subclass lands where its parent does. A
type marked ``generic`` (``Exception``, ``OperationalError``…) says only that
something failed: the message's codes and words decide.

A type the table does not know is judged by the words of its name
(``FooRateLimitError`` → ``rate_limited``), from the ``[heuristics]`` table; any
other ``…Error``/``…Exception`` is an unhandled exception.

Exception names are found on the lines of an event that can carry one: the
exception line of a traceback, ``Caused by:``, a logged ``Name: message``, a
``<class 'pkg.Name'>``, a JSON ``"type": "Name"``… — never on the source-code
lines a traceback quotes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import regex

from detector.config.toml import Table, load_toml
from detector.match.packs import Pattern, Runbook
from detector.model import Severity

__all__ = ["GENERIC", "Exception_", "KnowledgeBase", "knowledge_files", "load_classes",
           "load_knowledge"]

GENERIC = "generic"
IGNORE = "ignore"
# How sure each kind of lookup is: the engine turns these into priorities.
EXACT, BARE, HEURISTIC, UNKNOWN = "exact", "bare", "heuristic", "unknown"

# A name that looks like an exception type: dotted (or Ruby ::, PHP \) path, last part
# ending in Error/Exception (or one of the KB's own names, added when compiled).
_PATH_STEP = r"(?:[A-Za-z_$][\w$]*(?:\.|::|\\))"
_PATH = _PATH_STEP + "*"
_SHAPE = r"[A-Za-z_$][\w$]*(?:Error|Exception|Exc)"
_SHAPE_END = re.compile(r"(?:Error|Exception|Exc)$")


def _raised(line: str, start: int, end: int) -> bool:
    """Is a name without an ...Error/...Exception shape (``ECONNREFUSED``, ``RetryAfter``,
    ``httpx.Timeout``) shown as a raised type: ``Name: message``, ``Name`` ending the
    line (qualified, alone, or after the message's ``: `` as in ``upload failed:
    AccessDenied``), or ``<class 'pkg.Name'>`` — not ``retry_on = ['ECONNREFUSED']``
    or a call."""
    rest = line[end:end + 2]
    if rest[:1] == ":" and rest != "::":
        return True
    if not line[end:].strip():          # ends the line: qualified, or the line's only word
        name = line[start:end]
        return "." in name or not line[:start].strip() or line[:start].endswith(": ")
    return line[max(0, start - 8):start].endswith("<class '") and rest[:1] == "'"
# Lines that quote source code or stack frames: never where a raised type is named.
_CODE_LINE = re.compile(r"^\s+(?:File \"|at |raise |return |await |except |\^|~|\d+\s*\|)")


@dataclass(frozen=True, slots=True)
class Exception_:
    """An exception type seen in an event, and what the knowledge base makes of it."""

    name: str           # as printed
    cls: str            # an incident class, or GENERIC
    how: str            # EXACT, BARE, HEURISTIC or UNKNOWN
    position: int       # offset in the event text
    because: str = ""   # the base type or name stem that decided, if not the name itself

    def reason(self) -> str:
        what = {EXACT: "exception type", BARE: "exception type", HEURISTIC: "exception name",
                UNKNOWN: "exception"}[self.how]
        return f"{what} {self.name}" + (f" ({self.because})" if self.because else "")


class KnowledgeBase:
    def __init__(self, qualified: dict[str, tuple[str, str]], bare: dict[str, tuple[str, str]],
                 stems: list[tuple[re.Pattern[str], str, str]]) -> None:
        self.qualified = qualified          # full name → (class, because)
        self.bare = bare                    # last component → (class, because), unambiguous
        self.stems = stems                  # (pattern over the name's words, class, stem)
        # Longest first (the alternation must prefer them), then by name: the prefilter
        # expression is the same in every run, so its compiled database is reused.
        names = sorted({n.rsplit(".", 1)[-1] for n in qualified} | set(bare),
                       key=lambda n: (-len(n), n))
        others = [n for n in names if not re.fullmatch(_SHAPE, n)]
        # A lower-case name (socket.error, socket.timeout) counts only with its module:
        # on its own it is a word.
        known = "|".join(re.escape(n) for n in others if n[:1].isupper())
        lower = "|".join(re.escape(n) for n in others if not n[:1].isupper())
        self._known = "|".join(x for x in (known, lower) if x)
        alternatives = f"{_PATH}(?:{_SHAPE}|{known})" if known else f"{_PATH}{_SHAPE}"
        if lower:
            alternatives += f"|{_PATH_STEP}+(?:{lower})"
        # The name, then what follows a raised type: ":", "(", a quote, ">", "]", "," or
        # the end of the line.
        self.finder = re.compile(
            rf"(?<![\w$.\\:])(?P<name>{alternatives})"
            r"(?=\s*(?::(?!:)|\(|'|\"|>|\]|,|;|\s-\s|$)|\s+at\s+/)", re.M)

    def prefilter(self) -> bytes:
        """A byte expression for the multi-pattern prefilter: every line that may name an
        exception type (a superset of what :meth:`exceptions` finds)."""
        known = b"|" + self._known.encode("ascii") if self._known else b""
        return rb"(?:(?:Error|Exception|Exc)\b" + known + b")"

    def classify(self, name: str) -> tuple[str, str, str]:
        """(class or GENERIC, how, because) for a printed type name."""
        normal = name.replace("::", ".").replace("\\", ".").lstrip(".")
        found = self.qualified.get(normal)
        if found is not None:
            return found[0], EXACT, found[1]
        last = normal.rsplit(".", 1)[-1]
        found = self.bare.get(last)
        if found is not None:
            return found[0], BARE, found[1]
        words = " ".join(w.lower() for w in _words(last))
        for pattern, cls, stem in self.stems:
            if pattern.search(words):
                return cls, HEURISTIC, f"name says {stem!r}"
        return GENERIC, UNKNOWN, ""

    def exceptions(self, text: str) -> Iterator[Exception_]:
        """Every exception type named on the lines of ``text`` that can name one."""
        previous_frame = False
        start = 0
        for line in text.split("\n"):
            skip = previous_frame or _CODE_LINE.match(line) is not None
            previous_frame = line.lstrip().startswith('File "')
            if not skip:
                for match in self.finder.finditer(line):
                    name = match.group("name")
                    cls, how, because = self.classify(name)
                    if cls == IGNORE or (_SHAPE_END.search(name) is None
                                         and not _raised(line, match.start(), match.end())):
                        continue     # nothing wrong; or a name mentioned, not raised
                    yield Exception_(name, cls, how, start + match.start("name"), because)
            start += len(line) + 1


def _words(name: str) -> list[str]:
    """CamelCase and snake_case words: ``DDoSProtection`` → DDo, S, Protection… good
    enough for stems such as 'timeout' or 'rate limit'."""
    return re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+", name.replace("_", " "))


# -- loading ---------------------------------------------------------------------------------

def knowledge_files(folder: Path) -> list[Path]:
    """``exceptions.toml`` first, then every ``exceptions-*.toml`` beside it, by name."""
    return [folder / "exceptions.toml", *sorted(folder.glob("exceptions-*.toml"))]


def load_knowledge(paths: Path | Iterable[Path], classes: Iterable[str]) -> KnowledgeBase:
    """Read and resolve the tables; every class and base must exist (``file:line`` if not),
    and a type declared twice must say the same thing both times."""
    known_classes = set(classes) | {GENERIC, IGNORE}
    declared: dict[str, tuple[str, Table, str]] = {}     # full name → (value, table, key)
    stems: list[tuple[re.Pattern[str], str, str]] = []
    for path in [paths] if isinstance(paths, Path) else paths:
        data, lines = load_toml(path)
        top = Table(data, (), path, lines, env={}, expand=False)
        for library in top.tables("library"):
            library.required_str("name")
            modules = library.str_list("modules", [""])
            types = library.table("types")
            for key in types:
                value = types.required_str(key)
                for module in modules:
                    full = f"{module}.{key}" if module else key
                    if full in declared and declared[full][0] != value:
                        raise types.error(key, f"exception {full} is {value!r} here but "
                                               f"{declared[full][0]!r} where declared before")
                    declared[full] = (value, types, key)
            types.done()
            library.done()
        heuristics = top.table("heuristics")
        for stem in heuristics:
            cls = heuristics.required_str(stem)
            if cls not in known_classes:
                raise heuristics.error(stem, f"heuristic {stem!r}: unknown class {cls!r}")
            stems.append((re.compile(rf"\b{stem}"), cls, stem))
        heuristics.done()
        top.done()

    qualified: dict[str, tuple[str, str]] = {}

    def resolve(full: str, seen: tuple[str, ...] = ()) -> tuple[str, str]:
        if full in qualified:
            return qualified[full]
        value, table, key = declared[full]
        if value in known_classes:
            result = (value, "")
        else:
            module = full[: -len(key)].rstrip(".")
            base = next((b for b in (f"{module}.{value}" if module else value, value)
                         if b in declared), None)
            if base is None:
                raise table.error(key, f"exception {full}: {value!r} is neither a class nor "
                                       "a type declared in this file")
            if base in seen:
                raise table.error(key, f"exception {full}: its bases loop ({' → '.join(seen)})")
            result = (resolve(base, (*seen, full))[0], f"a {base.rsplit('.', 1)[-1]}")
        qualified[full] = result
        return result

    for full in declared:
        resolve(full)
    by_last: dict[str, set[tuple[str, str]]] = {}
    for full, (cls, because) in qualified.items():
        by_last.setdefault(full.rsplit(".", 1)[-1], set()).add((cls, because))
    bare = {}
    for last, found in by_last.items():
        classes_seen = {cls for cls, _ in found}
        if len(classes_seen) == 1 and last[:1].isupper():
            bare[last] = next(iter(found))
    return KnowledgeBase(qualified, bare, stems)



def load_classes(path: Path) -> dict[str, Pattern]:
    """Per class: the pattern that knowledge-base evidence (an exception type, a code)
    reports as, with the class's title, severity and generic runbook."""
    data, lines = load_toml(path)
    top = Table(data, (), path, lines, env={}, expand=False)
    classes = top.table("class")
    found: dict[str, Pattern] = {}
    for cls in classes:
        entry = classes.table(cls)
        title = entry.required_str("title")
        severity = Severity(entry.choice("severity", "error", tuple(Severity)))
        steps = tuple(entry.str_list("steps"))
        if not steps:
            raise entry.error("steps", f"class {cls}: steps must list what to do")
        entry.done()
        found[cls] = Pattern(
            id=f"exception.{cls}", cls=cls, severity=severity, title=title, source="",
            prefilter="", regex=_NEVER, context=None, fingerprint=("exception",),
            summary=None, priority=0, min_level=0, any_level=False, examples_match=(),
            examples_no_match=(),
            examples_fields={}, examples_lines=(None, None),
            runbook=Runbook(title=title, steps=steps), pack=path, line=entry.line())
    classes.done()
    top.done()
    return found


_NEVER = regex.compile(r"(?!)")

"""Go RE2 syntax (gitleaks' rules) → Python ``re`` syntax, meaning kept.

The differences that gitleaks' rules run into:

* A flag group such as ``(?i)`` in the middle of an expression: RE2 applies it from
  there to the end of the enclosing group, *including the alternatives after it*;
  Python only accepts global flags at the very start. It becomes a scoped group
  ``(?i:…)`` around the rest of the branch, and every later branch of the same group
  is wrapped too.
* ``\\z`` (end of text) is ``\\Z`` in Python.
* ``(?<name>…)`` is ``(?P<name>…)``.
* Inside a character class, ``[``, ``&&``, ``--``, ``||`` and ``~~`` would be read as
  set operations by a future Python: they are escaped.

What has no equivalent (the ``U`` flag, ``\\p{…}`` classes, POSIX ``[:alpha:]``,
``\\Q…\\E``) raises :class:`Untranslatable`; the rule is then reported, not used.
Patterns are compiled with ``re.ASCII``: RE2's ``\\w``, ``\\d``, ``\\s`` and case
folding are ASCII.
"""

from __future__ import annotations

import importlib
import re
import string
from typing import Any

__all__ = ["Untranslatable", "guarded", "runs_away", "translate"]

_BARE_FLAGS = re.compile(r"\(\?([imsU]*)(?:-([imsU]*))?\)")
_SCOPED_FLAGS = re.compile(r"\(\?([imsU]*)(?:-([imsU]*))?:")
_NAMED = re.compile(r"\(\?P?<([A-Za-z_]\w*)>")
_POSIX_CLASS = re.compile(r"\[:\^?[a-z]+:\]")
_UNSUPPORTED_ESCAPES = {"\\Q", "\\E", "\\p", "\\P", "\\C"}


class Untranslatable(ValueError):
    """A construct Python's ``re`` has no equivalent for."""


Flags = dict[str, bool]


def _scope(flags: Flags) -> str:
    on = "".join(sorted(f for f, v in flags.items() if v))
    off = "".join(sorted(f for f, v in flags.items() if not v))
    return f"(?{on}-{off}:" if off else f"(?{on}:"


class _Group:
    """One parenthesised group (or the whole pattern) while it is being read."""

    __slots__ = ("branches", "opener")

    def __init__(self, opener: str) -> None:
        self.opener = opener
        self.branches: list[list[str | Flags]] = [[]]

    def render(self) -> str:
        active: Flags = {}
        rendered = []
        for branch in self.branches:
            parts: list[str] = []
            opened = 0
            if active:                     # flags set in an earlier branch still hold
                parts.append(_scope(active))
                opened += 1
            for item in branch:
                if isinstance(item, dict):
                    active.update(item)
                    parts.append(_scope(item))
                    opened += 1
                else:
                    parts.append(item)
            parts.append(")" * opened)
            rendered.append("".join(parts))
        body = "|".join(rendered)
        return f"{self.opener}{body})" if self.opener else body


def _char_class(pattern: str, start: int) -> tuple[str, int]:
    """The class starting at ``pattern[start] == "["``, translated; and where it ends."""
    out = ["["]
    i, n = start + 1, len(pattern)
    if i < n and pattern[i] == "^":
        out.append("^")
        i += 1
    if i < n and pattern[i] == "]":              # a leading "]" is a literal in RE2
        out.append("\\]")
        i += 1
    while i < n and pattern[i] != "]":
        char = pattern[i]
        if char == "\\":
            escape = pattern[i:i + 2]
            if escape in _UNSUPPORTED_ESCAPES:
                raise Untranslatable(f"{escape} in a class at {i}")
            out.append(escape)
            i += 2
        elif _POSIX_CLASS.match(pattern, i):
            raise Untranslatable(f"POSIX class at {i}")
        elif char == "-" and pattern[i + 1:i + 2] == "-":
            out.append("\\-\\-")
            i += 2
        elif char in "[&~|":
            out.append("\\" + char)
            i += 1
        else:
            out.append(char)
            i += 1
    if i >= n:
        raise Untranslatable(f"unterminated class at {start}")
    out.append("]")
    return "".join(out), i + 1


def translate(pattern: str) -> str:
    """``pattern`` (RE2 syntax) in Python ``re`` syntax, with the same meaning."""
    stack = [_Group("")]
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        branch = stack[-1].branches[-1]
        if char == "\\":
            escape = pattern[i:i + 2]
            if escape in _UNSUPPORTED_ESCAPES:
                raise Untranslatable(f"{escape} at {i}")
            branch.append("\\Z" if escape == "\\z" else escape)
            i += 2
        elif char == "[":
            text, i = _char_class(pattern, i)
            branch.append(text)
        elif char == "(":
            if (flags := _BARE_FLAGS.match(pattern, i)) is not None:
                if "U" in flags.group(0):
                    raise Untranslatable(f"ungreedy flag at {i}")
                change = {f: True for f in flags.group(1)}
                change.update({f: False for f in flags.group(2) or ""})
                if change:
                    branch.append(change)
                i = flags.end()
                continue
            if (scoped := _SCOPED_FLAGS.match(pattern, i)) is not None:
                if "U" in scoped.group(0):
                    raise Untranslatable(f"ungreedy flag at {i}")
                opener, i = scoped.group(0), scoped.end()
            elif (named := _NAMED.match(pattern, i)) is not None:
                opener, i = f"(?P<{named.group(1)}>", named.end()
            elif pattern.startswith("(?", i):
                raise Untranslatable(f"group syntax {pattern[i:i + 4]!r} at {i}")
            else:
                opener, i = "(", i + 1
            stack.append(_Group(opener))
        elif char == "|":
            stack[-1].branches.append([])
            i += 1
        elif char == ")":
            if len(stack) == 1:
                raise Untranslatable(f"unbalanced ')' at {i}")
            group = stack.pop()
            stack[-1].branches[-1].append(group.render())
            i += 1
        else:
            branch.append(char)
            i += 1
    if len(stack) != 1:
        raise Untranslatable("unbalanced '('")
    return stack[0].render()


# -- a cheap first test for every start position -------------------------------------
# ``re`` tries a pattern at every position of the text. One that opens with a
# case-insensitive alternation (``(?i:access|auth|key|…)``) costs a dozen steps there
# before failing; a leading ``(?=[…])`` over the characters a match can start with
# fails in one (gitleaks' generic rule: 11 → 4 µs on a 150-character line). The set is
# read from the parsed pattern; where it cannot be (a pattern that may match empty, or
# starts with "any character"), the pattern is left as it is.
_CATEGORIES = {
    "CATEGORY_DIGIT": string.digits,
    "CATEGORY_WORD": string.ascii_letters + string.digits + "_",
    "CATEGORY_SPACE": " \t\n\r\f\v",
}
_GLOBAL_FLAGS = re.compile(r"\A\(\?[aiLmsux]+\)")


def _class(items: Any) -> set[str] | None:
    found: set[str] = set()
    for op, av in items:
        name = str(op)
        if name == "LITERAL":
            found.add(chr(av))
        elif name == "RANGE" and av[1] - av[0] < 256:
            found.update(chr(c) for c in range(av[0], av[1] + 1))
        elif name == "CATEGORY" and str(av) in _CATEGORIES:
            found.update(_CATEGORIES[str(av)])
        else:
            return None                                  # NEGATE, wide ranges…
    return found


def _first(items: Any, ignore_case: bool, folded: list[bool]) -> tuple[set[str] | None, bool]:
    """The characters a sequence can start with (``None``: any), and if it can be empty.

    ``folded`` is set when some of them come from case-insensitive matching.
    """
    chars: set[str] = set()
    for op, av in items:
        name = str(op)
        found: set[str] | None
        nullable = False
        if name in ("AT", "ASSERT", "ASSERT_NOT"):
            continue                                     # zero width
        if name in ("LITERAL", "IN"):
            found = {chr(av)} if name == "LITERAL" else _class(av)
            if found is not None and ignore_case:
                found |= {c.swapcase() for c in found if c in string.ascii_letters}
                folded[0] = True
        elif name == "BRANCH":
            found = set()
            for branch in av[1]:
                branch_chars, branch_nullable = _first(branch, ignore_case, folded)
                if branch_chars is None:
                    return None, False
                found |= branch_chars
                nullable = nullable or branch_nullable
        elif name == "SUBPATTERN":
            _group, add, remove, sub = av
            case = (ignore_case or bool(add & re.IGNORECASE)) and not remove & re.IGNORECASE
            found, nullable = _first(sub, case, folded)
        elif name == "ATOMIC_GROUP":
            found, nullable = _first(av, ignore_case, folded)
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _high, sub = av
            found, nullable = _first(sub, ignore_case, folded)
            nullable = nullable or low == 0
        else:
            return None, False                           # ANY, NOT_LITERAL, GROUPREF…
        if found is None:
            return None, False
        chars |= found
        if not nullable:
            return chars, False
    return chars, True


def guarded(pattern: str, flags: int = 0) -> str:
    """``pattern`` led by ``(?=[…])`` of the characters a match can start with, if known.

    Only where the start is case-insensitive: ``re`` finds a case-sensitive literal
    start faster on its own. Only for patterns compiled with ``re.ASCII`` (Unicode case
    folding would add characters such as the Kelvin sign to ``k``).
    """
    folded = [False]
    try:                                                 # a private module: never fail on it
        parsed = importlib.import_module("re._parser").parse(pattern, flags)
        chars, nullable = _first(parsed, bool(parsed.state.flags & re.IGNORECASE), folded)
    except Exception:
        return pattern
    if not chars or nullable or not folded[0]:
        return pattern
    members = "".join(re.escape(c) if c not in "-]\\^" else "\\" + c for c in sorted(chars))
    lead = _GLOBAL_FLAGS.match(pattern)
    head = lead.group(0) if lead else ""
    return f"{head}(?=[{members}]){pattern[len(head):]}"


def runs_away(pattern: str, flags: int = 0) -> bool:
    """Whether ``pattern`` repeats a wildcard without bound (``.*?``, ``[^"]+``, ``(?:…)*``).

    Such a pattern can take time quadratic in the text (gitleaks' ``\\bcurl\\b.*?…``
    on a line of many ``curl``): RE2 runs it in linear time, Python's backtracking
    engines do not.
    """
    try:
        parsed = importlib.import_module("re._parser").parse(pattern, flags)
    except Exception:
        return True
    return _runs_away(parsed)


def _runs_away(items: Any) -> bool:
    unbounded = importlib.import_module("re._constants").MAXREPEAT
    for op, av in items:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            _low, high, sub = av
            if high == unbounded and any(_wide(o, a) for o, a in sub):
                return True
            inner = [sub]
        elif name == "SUBPATTERN":
            inner = [av[-1]]
        elif name == "ATOMIC_GROUP":
            inner = [av]
        elif name == "BRANCH":
            inner = list(av[1])
        elif name in ("ASSERT", "ASSERT_NOT"):
            inner = [av[1]]
        else:
            continue
        if any(_runs_away(part) for part in inner):
            return True
    return False


def _wide(op: Any, av: Any) -> bool:
    """A repeated item that can match almost anything: ``.``, ``[^…]``, a group."""
    name = str(op)
    return name in ("ANY", "NOT_LITERAL", "BRANCH", "SUBPATTERN") or (
        name == "IN" and any(str(item) == "NEGATE" for item, _ in av))

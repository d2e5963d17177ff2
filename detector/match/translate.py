"""Translate pack regexes into other dialects, from Python's own regex parse tree.

Two outputs:

``prefilter(pattern)``
    A byte-level regex for hyperscan (and the pure-``regex`` fallback) that finds,
    in a raw buffer of log lines, every line the authoritative pattern could match
    once the line is decoded. It is a superset by construction:

    * JSON text escapes what the pattern sees unescaped, so ``"`` also accepts
      ``\\"``, a non-ASCII character also accepts its UTF-8 bytes or ``\\uXXXX``,
      ``\\s`` also accepts ``\\n``/``\\t``, and a word boundary also accepts the
      escape letters before a word (``\\npsycopg2``);
    * bounded repeats become unbounded (one decoded character may be several raw
      bytes), lazy and possessive repeats greedy;
    * lookarounds, anchors and backreferences, which only narrow a match, are dropped;
    * nothing ever matches a raw newline, so a hit always lies within one line.

``ere(pattern)``
    A faithful POSIX extended regex for ``grep -E``, used by the benchmark so that
    grep runs the same signatures.

Patterns must use the portable subset that Python's ``re`` parser accepts (which
is what pattern authors write anyway); :func:`check_portable` explains what is not.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

# Python's own regex parser (the tree `re` compiles from); private but stable across 3.11+.
P: Any = importlib.import_module("re._parser")
C: Any = importlib.import_module("re._constants")

__all__ = ["TranslateError", "check_portable", "ere", "prefilter"]


class TranslateError(ValueError):
    """The pattern uses syntax outside the portable subset."""


_MAXREPEAT = C.MAXREPEAT
_HEX = "[0-9a-fA-F]"
_UNICODE_ESCAPE = rf"\\u{_HEX}{{4}}"
_JSON_ESCAPE = r'\\[nrtbf"\\/]'
# One decoded non-ASCII character, as raw bytes: UTF-8, a JSON \uXXXX escape.
_NON_ASCII = rf"[\x80-\xff][\x80-\xbf]{{0,3}}|{_UNICODE_ESCAPE}"
_ERE_SPECIAL = set(".[]()*+?{}|^$\\")
_PCRE_SPECIAL = set(".[]()*+?{}|^$\\#&~- \t\r\n\f\v/\"'")


def check_portable(pattern: str) -> str:
    """The prefilter of ``pattern``; :class:`TranslateError` if it cannot be made soundly."""
    tree = _parse(pattern)
    if tree.state.flags & C.SRE_FLAG_DOTALL:
        raise TranslateError("(?s) is not allowed: patterns match within one line")
    if "\n" in pattern and not tree.state.flags & C.SRE_FLAG_VERBOSE:
        raise TranslateError("a pattern must not contain a newline: patterns match "
                             "within one line")
    translated = _Prefilter().seq(list(tree.data),
                                  bool(tree.state.flags & C.SRE_FLAG_IGNORECASE), True, True)
    if re.fullmatch(translated, "") is not None:
        raise TranslateError("the pattern can match an empty line")
    return translated


def prefilter(pattern: str) -> str:
    """The JSON-tolerant, byte-level superset of ``pattern`` (ASCII text)."""
    tree = _parse(pattern)
    ignore = bool(tree.state.flags & C.SRE_FLAG_IGNORECASE)
    return _Prefilter().seq(list(tree.data), ignore, True, True)


def ere(pattern: str) -> str:
    """``pattern`` as a POSIX ERE for GNU grep (lookarounds dropped)."""
    tree = _parse(pattern)
    ignore = bool(tree.state.flags & C.SRE_FLAG_IGNORECASE)
    return _Ere().seq(list(tree.data), ignore)


def _parse(pattern: str) -> Any:
    try:
        return P.parse(pattern, 0)
    except (re.error, OverflowError, RecursionError) as exc:
        raise TranslateError(f"unsupported regex syntax: {exc}") from None


def _flags(arg: tuple[Any, ...], ignore: bool) -> bool:
    _group, add, delete, _sub = arg
    if add & C.SRE_FLAG_IGNORECASE:
        ignore = True
    if delete & C.SRE_FLAG_IGNORECASE:
        ignore = False
    return ignore


def _cases(char: str, ignore: bool) -> list[str]:
    if not ignore:
        return [char]
    variants = {char, char.lower(), char.upper(), char.swapcase()}
    return sorted(v for v in variants if len(v) == 1)


# ---------------------------------------------------------------------------------
# prefilter dialect (hyperscan and the `regex` module, both on bytes)
# ---------------------------------------------------------------------------------

def _byte(code: int) -> str:
    if code < 128 and chr(code).isalnum():
        return chr(code)
    return f"\\x{code:02x}"


def _class_byte(code: int) -> str:
    return chr(code) if code < 128 and chr(code).isalnum() else f"\\x{code:02x}"


def _hex_ci(text: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in text)


class _Prefilter:
    def seq(self, items: list[tuple[Any, Any]], ignore: bool, left_ok: bool,
            right_ok: bool) -> str:
        out = []
        for index, (op, arg) in enumerate(items):
            if op is C.AT:
                if arg is C.AT_BOUNDARY:
                    before = _last_ascii(items[index - 1]) if index > 0 else left_ok
                    after = (_first_ascii(items[index + 1]) if index + 1 < len(items)
                             else right_ok)
                    if before and after:
                        out.append(rf"(?:\b|\\[nrtbf]|{_UNICODE_ESCAPE})")
                continue  # anchors and \B only narrow; drop them
            lo = _last_ascii(items[index - 1]) if index > 0 else left_ok
            ro = _first_ascii(items[index + 1]) if index + 1 < len(items) else right_ok
            out.append(self.item(op, arg, ignore, lo, ro))
        return "".join(out)

    def item(self, op: Any, arg: Any, ignore: bool, left_ok: bool, right_ok: bool) -> str:
        if op is C.LITERAL:
            return self.literal(arg, ignore)
        if op is C.NOT_LITERAL:
            return self.klass([(C.LITERAL, arg)], negate=True, ignore=ignore)
        if op is C.ANY:
            return self.klass([], negate=True, ignore=ignore)
        if op is C.IN:
            negate = bool(arg) and arg[0][0] is C.NEGATE
            members = arg[1:] if negate else arg
            return self.klass(list(members), negate=negate, ignore=ignore)
        if op is C.BRANCH:
            branches = [self.seq(list(b.data), ignore, left_ok, right_ok) for b in arg[1]]
            return "(?:" + "|".join(branches) + ")"
        if op is C.SUBPATTERN:
            inner_ignore = _flags(arg, ignore)
            return "(?:" + self.seq(list(arg[3].data), inner_ignore, left_ok, right_ok) + ")"
        if op is C.ATOMIC_GROUP:
            return "(?:" + self.seq(list(arg.data), ignore, left_ok, right_ok) + ")"
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            low, _high, sub = arg
            items = list(sub.data)
            quantifier = {0: "*", 1: "+"}.get(low, f"{{{low},}}")
            if len(items) == 1 and items[0][0] in (C.IN, C.NOT_LITERAL, C.ANY):
                # A repeated class: one flat byte class that can also spell UTF-8 and
                # JSON escapes. No alternation under the quantifier, so no backtracking
                # blow-up in the regex fallback.
                return self.repeated_class(items[0], ignore) + quantifier
            ends_ok = bool(items) and _first_ascii(items[0]) and _last_ascii(items[-1])
            body = self.seq(items, ignore, left_ok and ends_ok, right_ok and ends_ok)
            return f"(?:{body}){quantifier}" if body else ""
        if op in (C.ASSERT, C.ASSERT_NOT):
            return ""
        if op is C.GROUPREF:
            return r"[^\n]*"
        if op is C.GROUPREF_EXISTS:
            _group, yes, no = arg
            yes_text = self.seq(list(yes.data), ignore, left_ok, right_ok)
            no_text = self.seq(list(no.data), ignore, left_ok, right_ok) if no else ""
            return f"(?:{yes_text}|{no_text})"
        raise TranslateError(f"unsupported regex construct: {op}")

    def literal(self, code: int, ignore: bool) -> str:
        alternatives = []
        for variant in _cases(chr(code), ignore):
            alternatives.extend(self._raw_forms(variant))
        if len(alternatives) == 1:
            return alternatives[0]
        singles = [a for a in alternatives if len(a) == 1 and a.isalnum()]
        if len(singles) == len(alternatives):
            return "[" + "".join(singles) + "]"
        return "(?:" + "|".join(alternatives) + ")"

    @staticmethod
    def _raw_forms(char: str) -> list[str]:
        """Ways one decoded character can appear in a raw (possibly JSON) line."""
        code = ord(char)
        if char == '"':
            return [r'\\?"']
        if char == "\\":
            return [r"\\{1,2}"]
        if char == "/":
            return [r"\\?/"]
        if char in "\t\r\f\b":
            letter = {"\t": "t", "\r": "r", "\f": "f", "\b": "b"}[char]
            return [_byte(code), rf"\\{letter}"]
        if char == "\n":
            raise TranslateError("a pattern must not match a newline")
        if code < 128:
            return [_byte(code)]
        utf8 = "".join(f"\\x{b:02x}" for b in char.encode("utf-8"))
        if code > 0xFFFF:
            return [utf8, rf"\\u[dD][89abAB]{_HEX}{{2}}{_UNICODE_ESCAPE}"]
        return [utf8, r"\\u" + _hex_ci(f"{code:04x}")]

    def repeated_class(self, item: tuple[Any, Any], ignore: bool) -> str:
        op, arg = item
        if op is C.NOT_LITERAL:
            members, negate = [(C.LITERAL, arg)], True
        elif op is C.ANY:
            members, negate = [], True
        else:
            negate = bool(arg) and arg[0][0] is C.NEGATE
            members = list(arg[1:] if negate else arg)
        allowed, non_ascii = self._class_set(members, negate=negate, ignore=ignore)
        if non_ascii:
            # UTF-8 bytes, and \uXXXX escapes spelled out byte by byte.
            allowed |= set(range(128, 256)) | {ord(c) for c in "\\u0123456789abcdefABCDEF"}
        if allowed & {34, 92, 47, 9, 13, 12, 8, 10}:
            allowed |= {92} | {ord(c) for c in 'nrtbf"/'}
        allowed.discard(10)
        return _byte_class(allowed) or "(?!)"

    def _class_set(self, members: list[tuple[Any, Any]], *, negate: bool,
                   ignore: bool) -> tuple[set[int], bool]:
        allowed: set[int] = set()
        non_ascii = False
        for op, arg in members:
            if op is C.LITERAL:
                for variant in _cases(chr(arg), ignore):
                    if ord(variant) < 128:
                        allowed.add(ord(variant))
                    else:
                        non_ascii = True
            elif op is C.RANGE:
                low, high = arg
                for code in range(low, min(high, 127) + 1):
                    for variant in _cases(chr(code), ignore):
                        if ord(variant) < 128:
                            allowed.add(ord(variant))
                non_ascii = non_ascii or high >= 128
            elif op is C.CATEGORY:
                allowed |= _category_ascii(arg)
                non_ascii = True
            else:
                raise TranslateError(f"unsupported class member: {op}")
        if negate:
            allowed = set(range(128)) - allowed
            non_ascii = True
        return allowed, non_ascii

    def klass(self, members: list[tuple[Any, Any]], *, negate: bool, ignore: bool) -> str:
        allowed, non_ascii = self._class_set(members, negate=negate, ignore=ignore)
        allowed.discard(10)  # a hit never crosses a raw newline
        extras = []
        if non_ascii:
            extras.append(_NON_ASCII)
        if negate or allowed & {34, 92, 47, 9, 13, 12, 8} or 10 in _all_codes(members):
            extras.append(_JSON_ESCAPE)
        if negate:
            extras.append(_UNICODE_ESCAPE)
        body = _byte_class(allowed)
        if not extras:
            return body if body else "(?!)"
        parts = ([body] if body else []) + extras
        return "(?:" + "|".join(parts) + ")"


def _all_codes(members: list[tuple[Any, Any]]) -> set[int]:
    codes: set[int] = set()
    for op, arg in members:
        if op is C.LITERAL:
            codes.add(arg)
        elif op is C.CATEGORY and arg in (C.CATEGORY_SPACE, C.CATEGORY_NOT_WORD,
                                          C.CATEGORY_NOT_DIGIT):
            codes.add(10)
    return codes


def _category_ascii(category: Any) -> set[int]:
    ascii_chars = [chr(c) for c in range(128)]
    tests: dict[Any, Callable[[str], bool]] = {
        C.CATEGORY_DIGIT: str.isdigit,
        C.CATEGORY_NOT_DIGIT: lambda c: not c.isdigit(),
        C.CATEGORY_SPACE: lambda c: c in " \t\n\r\f\v\x1c\x1d\x1e\x1f",
        C.CATEGORY_NOT_SPACE: lambda c: c not in " \t\n\r\f\v\x1c\x1d\x1e\x1f",
        C.CATEGORY_WORD: lambda c: c.isalnum() or c == "_",
        C.CATEGORY_NOT_WORD: lambda c: not (c.isalnum() or c == "_"),
    }
    if category not in tests:
        raise TranslateError(f"unsupported class category: {category}")
    test = tests[category]
    return {ord(c) for c in ascii_chars if test(c)}


def _byte_class(codes: set[int]) -> str:
    if not codes:
        return ""
    ordered = sorted(codes)
    runs: list[tuple[int, int]] = []
    for code in ordered:
        if runs and runs[-1][1] == code - 1:
            runs[-1] = (runs[-1][0], code)
        else:
            runs.append((code, code))
    parts = []
    for low, high in runs:
        if low == high:
            parts.append(_class_byte(low))
        elif high == low + 1:
            parts.append(_class_byte(low) + _class_byte(high))
        else:
            parts.append(f"{_class_byte(low)}-{_class_byte(high)}")
    return "[" + "".join(parts) + "]"


def _first_ascii(item: tuple[Any, Any]) -> bool:
    """Does every match of ``item`` start with an ASCII character (so \\b is byte-safe)?"""
    return _edge_ascii(item, first=True)


def _last_ascii(item: tuple[Any, Any]) -> bool:
    return _edge_ascii(item, first=False)


def _edge_ascii(item: tuple[Any, Any], *, first: bool) -> bool:
    op, arg = item
    if op is C.LITERAL:
        return bool(arg < 128)
    if op is C.IN:
        if arg and arg[0][0] is C.NEGATE:
            return False
        for member_op, member_arg in arg:
            if member_op is C.CATEGORY:
                return False
            if member_op is C.RANGE and member_arg[1] >= 128:
                return False
            if member_op is C.LITERAL and member_arg >= 128:
                return False
        return True
    if op in (C.SUBPATTERN, C.ATOMIC_GROUP):
        data = list((arg[3] if op is C.SUBPATTERN else arg).data)
        data = [d for d in data if d[0] not in (C.AT, C.ASSERT, C.ASSERT_NOT)]
        if not data:
            return False
        return _edge_ascii(data[0] if first else data[-1], first=first)
    if op is C.BRANCH:
        results = []
        for branch in arg[1]:
            data = [d for d in branch.data if d[0] not in (C.AT, C.ASSERT, C.ASSERT_NOT)]
            if not data:
                return False
            results.append(_edge_ascii(data[0] if first else data[-1], first=first))
        return all(results)
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        low, _high, sub = arg
        data = list(sub.data)
        if low == 0 or not data:
            return False
        return _edge_ascii(data[0] if first else data[-1], first=first)
    return False


# ---------------------------------------------------------------------------------
# POSIX ERE dialect (GNU grep -E), for the benchmark baseline
# ---------------------------------------------------------------------------------

_ERE_CATEGORY = {
    C.CATEGORY_DIGIT: ("[:digit:]", False),
    C.CATEGORY_NOT_DIGIT: ("[:digit:]", True),
    C.CATEGORY_SPACE: ("[:space:]", False),
    C.CATEGORY_NOT_SPACE: ("[:space:]", True),
    C.CATEGORY_WORD: ("[:alnum:]_", False),
    C.CATEGORY_NOT_WORD: ("[:alnum:]_", True),
}


class _Ere:
    def seq(self, items: list[tuple[Any, Any]], ignore: bool) -> str:
        return "".join(self.item(op, arg, ignore) for op, arg in items)

    def item(self, op: Any, arg: Any, ignore: bool) -> str:
        if op is C.LITERAL:
            variants = _cases(chr(arg), ignore)
            if len(variants) > 1:
                return "[" + "".join(variants) + "]"
            char = variants[0]
            return "\\" + char if char in _ERE_SPECIAL else char
        if op is C.NOT_LITERAL:
            return "." if arg == 10 else "[^" + _ere_class_char(chr(arg)) + "]"
        if op is C.ANY:
            return "."
        if op is C.IN:
            return self.klass(arg, ignore)
        if op is C.BRANCH:
            return "(" + "|".join(self.seq(list(b.data), ignore) for b in arg[1]) + ")"
        if op is C.SUBPATTERN:
            return "(" + self.seq(list(arg[3].data), _flags(arg, ignore)) + ")"
        if op is C.ATOMIC_GROUP:
            return "(" + self.seq(list(arg.data), ignore) + ")"
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            low, high, sub = arg
            body = self.seq(list(sub.data), ignore)
            if len(sub.data) != 1 or sub.data[0][0] not in (C.LITERAL, C.IN, C.ANY,
                                                            C.NOT_LITERAL, C.SUBPATTERN):
                body = f"({body})"
            if (low, high) == (0, _MAXREPEAT):
                return body + "*"
            if (low, high) == (1, _MAXREPEAT):
                return body + "+"
            if (low, high) == (0, 1):
                return body + "?"
            if high == _MAXREPEAT:
                return f"{body}{{{low},}}"
            return f"{body}{{{low},{high}}}" if low != high else f"{body}{{{low}}}"
        if op is C.AT:
            return {C.AT_BOUNDARY: r"\b", C.AT_NON_BOUNDARY: r"\B", C.AT_BEGINNING: "^",
                    C.AT_END: "$", C.AT_BEGINNING_STRING: "^", C.AT_END_STRING: "$"}[arg]
        if op in (C.ASSERT, C.ASSERT_NOT):
            return ""
        if op is C.GROUPREF:
            return ".*"
        if op is C.GROUPREF_EXISTS:
            _group, yes, no = arg
            no_text = self.seq(list(no.data), ignore) if no else ""
            return "(" + self.seq(list(yes.data), ignore) + "|" + no_text + ")"
        raise TranslateError(f"unsupported regex construct: {op}")

    def klass(self, members: list[tuple[Any, Any]], ignore: bool) -> str:
        negate = bool(members) and members[0][0] is C.NEGATE
        if negate:
            members = members[1:]
        parts: list[str] = []
        negated_categories: list[str] = []
        for op, arg in members:
            if op is C.LITERAL and arg == 10:
                continue  # grep works line by line: a newline is never in a line
            if op is C.LITERAL:
                parts.extend(_ere_class_char(v) for v in _cases(chr(arg), ignore))
            elif op is C.RANGE:
                parts.append(f"{_ere_class_char(chr(arg[0]))}-{_ere_class_char(chr(arg[1]))}")
            elif op is C.CATEGORY:
                text, negative = _ERE_CATEGORY[arg]
                (negated_categories if negative else parts).append(text)
        if negated_categories and not parts and not negate and len(negated_categories) == 1:
            return "[^" + negated_categories[0] + "]"
        if negated_categories:
            # [\S,] and friends have no ERE spelling; widen to any character (superset).
            return "."
        if not parts:
            return "." if negate else "[^[:print:][:cntrl:]]"
        # ']' must come first in a bracket expression and '-' last.
        body = "".join(sorted(parts, key=lambda p: (p != "]", p == "^", p == "-")))
        if body == "^":
            body = "\\^"
        return ("[^" if negate else "[") + body + "]"


def _ere_class_char(char: str) -> str:
    return char


# ---------------------------------------------------------------------------------
# required literal factors (for the regex fallback's fast pre-check)
# ---------------------------------------------------------------------------------

_MIN_FACTOR = 3


def required_factors(expression: str) -> list[bytes] | None:
    """Lower-case byte strings of which every match of ``expression`` contains one.

    ``expression`` is a prefilter (raw-level) expression. ``None`` when no factor of
    at least three bytes is required: the caller must then scan everything.
    """
    try:
        tree = P.parse(expression, 0)
    except (re.error, OverflowError, RecursionError):
        return None
    found = _seq_factors(list(tree.data))
    if not found or min(len(f) for f in found) < _MIN_FACTOR:
        return None
    return sorted({f.encode("latin-1") for f in found})


def _char_of(item: tuple[Any, Any]) -> str | None:
    """The one (lower-cased) character ``item`` stands for, if it is a single letter."""
    op, arg = item
    if op is C.LITERAL:
        return chr(arg).lower()
    if op is C.IN and len(arg) == 2 and all(m[0] is C.LITERAL for m in arg):
        a, b = chr(arg[0][1]), chr(arg[1][1])
        if a.lower() == b.lower():
            return a.lower()
    return None


def _better(a: set[str] | None, b: set[str] | None) -> set[str] | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if (min(map(len, a)), -len(a)) >= (min(map(len, b)), -len(b)) else b


def _seq_factors(items: list[tuple[Any, Any]]) -> set[str] | None:
    best: set[str] | None = None
    run = ""
    for item in items:
        char = _char_of(item)
        if char is not None:
            run += char
            continue
        if run:
            best = _better(best, {run})
            run = ""
        best = _better(best, _item_factors(item))
    if run:
        best = _better(best, {run})
    return best


def _item_factors(item: tuple[Any, Any]) -> set[str] | None:
    op, arg = item
    if op is C.SUBPATTERN:
        return _seq_factors(list(arg[3].data))
    if op is C.ATOMIC_GROUP:
        return _seq_factors(list(arg.data))
    if op is C.BRANCH:
        union: set[str] = set()
        for branch in arg[1]:
            found = _seq_factors(list(branch.data))
            if not found:
                return None
            union |= found
        return union
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT) and arg[0] >= 1:
        return _seq_factors(list(arg[2].data))
    return None

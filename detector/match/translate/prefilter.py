"""The prefilter dialect: a byte-level superset of a pattern, for hyperscan and ``regex``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from detector.match.translate._tree import C, TranslateError
from detector.match.translate._tree import cases as _cases
from detector.match.translate._tree import flags as _flags

_HEX = "[0-9a-fA-F]"
_UNICODE_ESCAPE = rf"\\u{_HEX}{{4}}"
_JSON_ESCAPE = r'\\[nrtbf"\\/]'
# One decoded non-ASCII character, as raw bytes: UTF-8, a JSON \uXXXX escape.
_NON_ASCII = rf"[\x80-\xff][\x80-\xbf]{{0,3}}|{_UNICODE_ESCAPE}"


def _byte(code: int) -> str:
    if code < 128 and chr(code).isalnum():
        return chr(code)
    return f"\\x{code:02x}"


def _class_byte(code: int) -> str:
    return chr(code) if code < 128 and chr(code).isalnum() else f"\\x{code:02x}"


def _hex_ci(text: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in text)


class Prefilter:
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

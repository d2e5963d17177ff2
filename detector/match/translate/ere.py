"""The POSIX ERE dialect (GNU grep -E), for the benchmark baseline."""

from __future__ import annotations

from typing import Any

from detector.match.translate._tree import MAXREPEAT as _MAXREPEAT
from detector.match.translate._tree import C, TranslateError, parse
from detector.match.translate._tree import cases as _cases
from detector.match.translate._tree import flags as _flags

_ERE_SPECIAL = set(".[]()*+?{}|^$\\")


def ere(pattern: str) -> str:
    """``pattern`` as a POSIX ERE for GNU grep (lookarounds dropped)."""
    tree = parse(pattern)
    ignore = bool(tree.state.flags & C.SRE_FLAG_IGNORECASE)
    return _Ere().seq(list(tree.data), ignore)


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
        rendered = [self.item(op, arg, ignore) for op, arg in items]
        for index, (op, arg) in enumerate(items):
            if op is C.AT and arg in (C.AT_BOUNDARY, C.AT_NON_BOUNDARY):
                # In the C locale a letter beyond ASCII is bytes, not a word character: a
                # word boundary beside one cannot be kept (dropping it widens the match).
                near = "".join(rendered[max(0, index - 1):index + 2])
                if not near.isascii():
                    rendered[index] = ""
        return "".join(rendered)

    def item(self, op: Any, arg: Any, ignore: bool) -> str:
        if op is C.LITERAL:
            variants = _cases(chr(arg), ignore)
            if len(variants) > 1:
                if all(v.isascii() for v in variants):
                    return "[" + "".join(variants) + "]"
                # grep in the C locale reads bytes: a bracket would take a multi-byte
                # letter apart, an alternation keeps its bytes together
                return "(" + "|".join(variants) + ")"
            char = variants[0]
            return "\\" + char if char in _ERE_SPECIAL else char
        if op is C.NOT_LITERAL:
            return "." if arg == 10 else "[^" + chr(arg) + "]"
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
                parts.extend(_cases(chr(arg), ignore))
            elif op is C.RANGE:
                parts.append(f"{chr(arg[0])}-{chr(arg[1])}")
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
        wide = [p for p in parts if len(p) == 1 and not p.isascii()]
        if wide:
            if negate:
                return "."            # no byte-wise spelling of "not these letters": widen
            parts = [p for p in parts if p not in wide]
            rest = [self.klass([(C.LITERAL, ord(p))], False) for p in parts] if parts else []
            return "(" + "|".join([*rest, *wide]) + ")"
        # ']' must come first in a bracket expression and '-' last.
        body = "".join(sorted(parts, key=lambda p: (p != "]", p == "^", p == "-")))
        if body == "^":
            body = "\\^"
        return ("[^" if negate else "[") + body + "]"

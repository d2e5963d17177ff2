"""Line numbers for TOML keys, so errors can say ``file:line: problem``.

``tomllib`` parses but keeps no positions. This scanner walks the text once and
records the line where each table header and each key starts, under the same
key path the parsed document uses: ``("source", 1, "path")`` for the ``path``
key of the second ``[[source]]``. It understands headers, arrays of tables,
dotted and quoted keys, and skips the inside of multi-line strings and arrays;
it only has to be right for documents ``tomllib`` already accepted.
"""

from __future__ import annotations

import re

Path = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*(.+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
                  r"""(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*'))*)\s*=""")
_PART = re.compile(r"""[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*'""")


def _split_key(key: str) -> list[str]:
    parts = []
    for raw in _PART.findall(key):
        if raw[0] in "\"'":
            parts.append(raw[1:-1])
        else:
            parts.append(raw)
    return parts


class KeyLines:
    """Maps key paths of a TOML document to the line (1-based) that defines them."""

    def __init__(self, text: str) -> None:
        self._lines: dict[Path, int] = {}
        self._scan(text)

    def line(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        probe = tuple(path)
        while probe:
            if probe in self._lines:
                return self._lines[probe]
            probe = probe[:-1]
        return None

    def _scan(self, text: str) -> None:
        counts: dict[Path, int] = {}
        table: Path = ()
        in_string: str | None = None
        depth = 0
        for number, line in enumerate(text.splitlines(), start=1):
            if in_string is not None:
                if line.count(in_string) % 2 == 1:
                    in_string = None
                continue
            if depth > 0:
                depth += _bracket_delta(line)
                continue
            header = _HEADER.match(line)
            if header and not _KEY.match(line):
                parts = tuple(_split_key(header.group(2)))
                if header.group(1) == "[[":
                    index = counts.get(parts, -1) + 1
                    counts[parts] = index
                    table = (*parts, index)
                else:
                    table = _resolve(parts, counts)
                self._lines.setdefault(table, number)
                continue
            key = _KEY.match(line)
            if not key:
                continue
            parts = tuple(_split_key(key.group(1)))
            for i in range(1, len(parts) + 1):
                self._lines.setdefault((*table, *parts[:i]), number)
            rest = line[key.end():]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2 == 1:
                    in_string = quote
                    break
            else:
                depth = max(0, _bracket_delta(rest))


def _resolve(parts: tuple[str, ...], counts: dict[Path, int]) -> Path:
    """A ``[a.b]`` header inside the latest element of an array of tables ``[[a]]``."""
    resolved: list[str | int] = []
    for part in parts:
        resolved.append(part)
        prefix = tuple(p for p in resolved if isinstance(p, str))
        if prefix in counts and len(prefix) < len(parts):
            resolved.append(counts[prefix])
    return tuple(resolved)


def _bracket_delta(line: str) -> int:
    """Brackets opened minus closed outside strings and comments on one line."""
    delta = 0
    index = 0
    size = len(line)
    while index < size:
        char = line[index]
        if char == "#":
            break
        if char in "\"'":
            triple = line[index:index + 3]
            if triple in ('"""', "'''"):
                end = line.find(triple, index + 3)
                if end < 0:
                    return delta          # a multi-line string starts; the caller tracks it
                index = end + 3
                continue
            index += 1
            while index < size and line[index] != char:
                index += 2 if char == '"' and line[index] == "\\" else 1
            index += 1
            continue
        if char == "[":
            delta += 1
        elif char == "]":
            delta -= 1
        index += 1
    return delta

"""``detector templates PATH...``: the shapes a log holds.

Each input line is one message, decoded as replay decodes it: a JSON line's message
(:func:`detector.decode.fields.decode_line`), a plain line without its leading time,
level and logger (:func:`detector.decode.prefix.strip_prefix`). The messages go
through the same masks and template miner as ``new_error`` detection, one tree for
all inputs. Prints the templates, most frequent first, with their counts, levels and
one example (``--output text|jsonl``); or with ``--assign``, one JSON line per input
line, in input order: ``{"line": N, "template": ID}`` (``null`` for an empty message).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

import orjson

from detector.decode.fields import decode_line
from detector.decode.prefix import strip_prefix
from detector.detect.templates import Template, TemplateTree, mask
from detector.humanize import plural
from detector.model import LEVEL_NAMES
from detector.replay.inputs import ChunkReader, expand_inputs

__all__ = ["templates_command"]

MAX_TEMPLATES = 100_000


@dataclass
class _Shape:
    template: Template
    example: str
    first_line: int
    levels: Counter[str] = field(default_factory=Counter)


def _lines(paths: list[str]) -> Iterator[bytes]:
    for path in paths:
        reader = ChunkReader(path)
        try:
            while (chunk := reader.read()) is not None:
                for line in chunk.splitlines():
                    yield line.rstrip(b"\r")
        finally:
            reader.close()


def message_of(raw: bytes) -> tuple[str, int]:
    """The message of one input line, and its level."""
    record = decode_line(raw)
    text = record.text if record.is_json else strip_prefix(record.text)
    return text, record.level


def templates_command(paths: list[str], *, output: str = "text", assign: bool = False,
                      out: TextIO | None = None) -> int:
    out = out or sys.stdout
    files = expand_inputs(paths)
    tree = TemplateTree(MAX_TEMPLATES)
    shapes: dict[str, _Shape] = {}
    total = 0
    for number, raw in enumerate(_lines(files), start=1):
        total = number
        text, level = message_of(raw)
        tokens = mask(text)
        if not tokens:
            if assign:
                out.write(f'{{"line": {number}, "template": null}}\n')
            continue
        template, _ = tree.match(tokens, float(number))
        if assign:
            out.write(f'{{"line": {number}, "template": "{template.id}"}}\n')
            continue
        shape = shapes.get(template.id)
        if shape is None:
            shape = shapes[template.id] = _Shape(template, text.split("\n", 1)[0][:300],
                                                 number)
        shape.levels[LEVEL_NAMES.get(level, "none")] += 1
    if assign:
        return 0
    ranked = sorted(shapes.values(), key=lambda s: (-s.template.count, s.first_line))
    if output == "jsonl":
        for shape in ranked:
            out.write(orjson.dumps(_as_json(shape)).decode() + "\n")
        return 0
    for shape in ranked:
        levels = ", ".join(f"{name} {n}" for name, n in shape.levels.most_common())
        out.write(f"{shape.template.count:>8}  {shape.template.id}  {levels}\n"
                  f"{'':>10}{shape.template.text}\n{'':>10}e.g. {shape.example}\n")
    out.write(f"\n{plural(total, 'line')}, {plural(len(ranked), 'template')}\n")
    return 0


def _as_json(shape: _Shape) -> dict[str, Any]:
    return {"id": shape.template.id, "template": shape.template.text,
            "count": shape.template.count, "levels": dict(shape.levels.most_common()),
            "example": shape.example, "first_line": shape.first_line}

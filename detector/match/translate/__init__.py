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

import re

from detector.match.translate._tree import C, TranslateError, parse
from detector.match.translate.ere import ere
from detector.match.translate.factors import required_factors
from detector.match.translate.prefilter import Prefilter

__all__ = ["TranslateError", "check_portable", "ere", "prefilter", "required_factors"]


def check_portable(pattern: str) -> str:
    """The prefilter of ``pattern``; :class:`TranslateError` if it cannot be made soundly."""
    tree = parse(pattern)
    if tree.state.flags & C.SRE_FLAG_DOTALL:
        raise TranslateError("(?s) is not allowed: patterns match within one line")
    if "\n" in pattern and not tree.state.flags & C.SRE_FLAG_VERBOSE:
        raise TranslateError("a pattern must not contain a newline: patterns match "
                             "within one line")
    translated = Prefilter().seq(list(tree.data),
                                  bool(tree.state.flags & C.SRE_FLAG_IGNORECASE), True, True)
    if re.fullmatch(translated, "") is not None:
        raise TranslateError("the pattern can match an empty line")
    return translated


def prefilter(pattern: str) -> str:
    """The JSON-tolerant, byte-level superset of ``pattern`` (ASCII text)."""
    tree = parse(pattern)
    ignore = bool(tree.state.flags & C.SRE_FLAG_IGNORECASE)
    return Prefilter().seq(list(tree.data), ignore, True, True)

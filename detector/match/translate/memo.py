"""The prefilter translations of pack regexes, kept between runs in the cache directory.

:func:`~detector.match.translate.check_portable` is a pure function of a pattern's
text, the translator's own code and Python's ``re`` parser, and translating every
shipped pattern costs more start-up time than anything else that loads them. Its
results are kept in one JSON file whose name carries a digest of the translator's
source files and the Python version, so a new ``detector`` or a new Python never
reads another's translations. Only successful translations are kept: a pattern
that fails is translated (and reported) again on every load. A missing, unreadable
or corrupt file is the same as an empty one; past ``LIMIT`` entries, only the last
load's are kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from detector.match.translate import check_portable

__all__ = ["Translations"]

_VERSION = b"translations v1"
LIMIT = 5000


def _digest() -> str:
    """What the translations depend on: the translator's code and Python's version."""
    digest = hashlib.sha256(_VERSION + sys.version.encode())
    folder = Path(__file__).resolve().parent
    for source in sorted(folder.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:24]


class Translations:
    """``check_portable`` with its results remembered in ``folder`` (None: not kept)."""

    def __init__(self, folder: Path | None) -> None:
        self.path = folder / f"translations-{_digest()}.json" if folder is not None else None
        self.known: dict[str, str] = {}
        self.used: dict[str, str] = {}
        if self.path is not None:
            try:
                loaded = json.loads(self.path.read_bytes())
            except (OSError, ValueError):
                loaded = None
            if isinstance(loaded, dict):
                self.known = {k: v for k, v in loaded.items()
                              if isinstance(k, str) and isinstance(v, str)}

    def check_portable(self, pattern: str) -> str:
        translated = self.known.get(pattern)
        if translated is None:
            translated = check_portable(pattern)
        self.used[pattern] = translated
        return translated

    def save(self) -> None:
        """Add what this load translated to the file (when it translated anything new)."""
        if self.path is None or self.used.keys() <= self.known.keys():
            return
        kept = self.known | self.used
        if len(kept) > LIMIT:
            kept = self.used
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps(kept, sort_keys=True))
            temporary.replace(self.path)
        except OSError:
            pass

"""Error message templates: masking variable parts, and a Drain-style template tree.

``mask`` replaces what varies between occurrences of one kind of message
(timestamps, UUIDs, IPs, URLs, e-mail addresses, paths, quoted strings, hex ids,
numbers) by placeholders. :class:`TemplateTree` then groups masked messages the
way Drain does: by token count and first token, then by similarity to the
templates already in the group; a message similar enough to a template widens
it (differing tokens become ``<*>``), otherwise it starts a new template.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

__all__ = ["Template", "TemplateTree", "mask"]

_MASKS = [
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"), "<TS>"),
    (re.compile(r"\b\d{1,2}/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d(?: [+-]\d{4})?"), "<TS>"),
    (re.compile(r"\b\d\d:\d\d:\d\d(?:[.,]\d+)?\b"), "<TS>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                r"[0-9a-fA-F]{12}\b"), "<UUID>"),
    (re.compile(r"\b[a-z][a-z0-9+.-]*://\S+"), "<URL>"),
    (re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b"), "<EMAIL>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<IP>"),
    (re.compile(r"(?<![\w.])(?:/[\w.@-]+){2,}/?"), "<PATH>"),
    (re.compile(r"'[^'\n]{0,200}'|\"[^\"\n]{0,200}\""), "<STR>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])"
                r"[0-9a-fA-F]{6,}\b"), "<HEX>"),
    (re.compile(r"(?<![A-Za-z_])[-+]?\d+(?:\.\d+)?(?![A-Za-z_])"), "<NUM>"),
]
WILDCARD = "<*>"
SIMILARITY = 0.5
MAX_TOKENS = 64


def mask(message: str) -> list[str]:
    """The tokens of ``message`` with its variable parts replaced by placeholders."""
    text = message.split("\n", 1)[0][:1000]
    for pattern, placeholder in _MASKS:
        text = pattern.sub(placeholder, text)
    return text.split()[:MAX_TOKENS]


@dataclass
class Template:
    id: str
    tokens: list[str]
    first_seen: float
    last_seen: float
    count: int = 1

    @property
    def text(self) -> str:
        return " ".join(self.tokens)


@dataclass
class TemplateTree:
    """The templates of one service."""

    max_templates: int
    groups: dict[tuple[int, str], list[Template]] = field(default_factory=dict)
    size: int = 0

    def match(self, tokens: list[str], when: float) -> tuple[Template, bool]:
        """The template of ``tokens`` (widened if need be), and whether it is new."""
        group_key = (len(tokens), tokens[0] if tokens else "")
        group = self.groups.setdefault(group_key, [])
        best: Template | None = None
        best_score = 0.0
        for template in group:
            score = _similarity(template.tokens, tokens)
            if score > best_score:
                best, best_score = template, score
        if best is not None and best_score >= SIMILARITY:
            best.tokens = [a if a == b else WILDCARD for a, b in zip(best.tokens, tokens,
                                                                      strict=True)]
            best.count += 1
            best.last_seen = max(best.last_seen, when)
            return best, False
        digest = hashlib.sha1(" ".join(tokens).encode()).hexdigest()[:12]
        template = Template(id=digest, tokens=list(tokens), first_seen=when, last_seen=when)
        group.append(template)
        self.size += 1
        if self.size > self.max_templates:
            self._evict()
        return template, True

    def forget_older_than(self, when: float) -> None:
        for key in list(self.groups):
            kept = [t for t in self.groups[key] if t.last_seen >= when]
            self.size -= len(self.groups[key]) - len(kept)
            if kept:
                self.groups[key] = kept
            else:
                del self.groups[key]

    def templates(self) -> list[Template]:
        return [t for group in self.groups.values() for t in group]

    def _evict(self) -> None:
        oldest_key, oldest = None, None
        for key, group in self.groups.items():
            for template in group:
                if oldest is None or template.last_seen < oldest.last_seen:
                    oldest_key, oldest = key, template
        if oldest_key is not None and oldest is not None:
            self.groups[oldest_key].remove(oldest)
            if not self.groups[oldest_key]:
                del self.groups[oldest_key]
            self.size -= 1


def _similarity(template: list[str], tokens: list[str]) -> float:
    if not tokens:
        return 1.0
    same = sum(1 for a, b in zip(template, tokens, strict=True) if a in (b, WILDCARD))
    return same / len(tokens)

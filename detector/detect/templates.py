"""Error message templates: masking what varies, and an online template miner.

``mask`` splits a message's first line on white space and rewrites each token: one
combined expression replaces the variable parts *inside* it — URLs, e-mail addresses,
UUIDs, times, IPs and ``host:port``, paths, hex ids, numbers (``30546173_4261722401`` →
``<NUM>``, ``blk_-42`` → ``blk_<NUM>``) — and the value of a ``key=value`` pair (``<*>``).
Words stay words, quoted ones too: only the words tell messages apart.

The masks cannot tell one ASCII digit from another (save a 0 before x: ``0x1f``), so
what was learnt for one *shape* (digits made alike) holds for every token or line of
that shape. Most lines cost a look-up or two in bounded caches: a line seen before; a
line whose shape was seen, when its masked tokens hold no digit (``Receiving blk_-42
from /10.0.0.7:80`` and ``Receiving blk_-97 from /10.2.0.9:44`` mask alike); else per
token, a token seen before, or one whose shape was seen (its variable parts are at the
same places). The expression runs once per new token shape, and only with the kinds
whose characters the token holds. The caches are the module's: one thread at a time.

:class:`TemplateTree` groups masked messages online, per token count:

- an exact look-up first: the same masked message always gets the same template;
- otherwise the candidates are the templates that share a constant token, at the
  same position, with the message (an inverted index: a variable token routes
  nothing, wherever it stands — the first token included);
- the similarity is wildcard-aware: positions a template already holds as ``<*>``
  count neither for nor against; placeholders of any type at the same position
  agree; a message joins the best template when at least ``SIMILARITY`` of the
  template's constant tokens agree and at least one word does, which widens the
  differing positions to ``<*>`` (never below ``MIN_CONSTANT`` of the words the
  template was born with: a template does not dissolve into wildcards);
- otherwise it starts a new template. A template's id is fixed at birth and kept
  through widening, eviction order is least recently seen.

Memory per tree is bounded by ``max_templates``: at most that many templates (each
at most ``MAX_TOKENS`` tokens), one index entry per constant token of each, and an
exact-match cache of at most ``2 × max_templates`` masked messages. The module's
caches are bounded too (cleared when full).
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from detector.decode.prefix import strip_prefix

__all__ = ["Template", "TemplateTree", "mask"]

WILDCARD = "<*>"
SIMILARITY = 0.6          # share of a template's constant tokens that must agree
MIN_CONSTANT = 0.5        # a widened template keeps at least this share of its birth words
STABLE = 20              # an identifier held unchanged this often is not a variable
MAX_TOKENS = 64
MAX_CHARS = 1000
SNAPSHOT_VERSION = 2

# -- masking ----------------------------------------------------------------------------
# The variable parts inside a token, in order of preference at one place, each with the
# characters it cannot match without (possessive where backtracking cannot help).
_KINDS = (
    ("kv", "=", r"(?<=[A-Za-z0-9_]=)[^\s=,;)\]}]+"),
    ("url", "://", r"[A-Za-z][A-Za-z0-9+.-]*+://[^\s\"'<>]+"),
    ("email", "@", r"[\w.+-]++@[\w-]++(?:\.[\w-]+)+"),
    ("uuid", "-",
     r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
    ("ts", "-", r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?"),
    ("ts", ":", r"(?<![\w:])\d\d:\d\d:\d\d(?:[.,]\d+)?(?![\w:])"),
    ("ip", ".", r"(?<![\w.])\d{1,3}+(?:\.\d{1,3}+){3}(?::\d{1,5})?(?![\w.])"),
    ("ip", ":", r"(?<![\w:.])[0-9a-fA-F]{0,4}+(?::[0-9a-fA-F]{0,4}+){2,7}+(?![\w:.])"),
    ("host", ":", r"(?<![\w.-])[a-z0-9-]++(?:\.[a-z0-9-]++)++:\d{1,5}+(?![\w.])"),
    ("path", "/", r"(?<![\w.:/\\])(?:[A-Za-z]:)?(?:[\\/][^\\/\s\"'<>,;()\[\]{}|]++){2,}[\\/]?"),
    ("hex", "", r"(?<![A-Za-z0-9])(?:0[xX][0-9a-fA-F]++|(?=[0-9a-fA-F]*[0-9])"
     r"(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{6,}+)(?![A-Za-z0-9])"),
    ("num", "", r"(?<![A-Za-z0-9])[-+]?\d+(?:[.,:_/-]\d+)*(?![A-Za-z0-9])"),
    ("literal", "", r"(?<![\w.-])(?:true|false|null|nil|True|False|None|TRUE|FALSE|NULL)"
     r"(?![\w-])"),
)
_NEEDS = ("=", "://", "@", "-", ":", ".", "/")          # a path may use \ too (see _variable)


def _expression(present: tuple[bool, ...]) -> re.Pattern[str]:
    """The kinds of _KINDS that can occur in a token holding the ``present`` ones of
    _NEEDS, as one expression: leaving out a kind that cannot match changes nothing."""
    have = dict(zip(_NEEDS, present, strict=True))
    groups: dict[str, list[str]] = {}
    for kind, needs, expression in _KINDS:
        if not needs or have[needs]:
            groups.setdefault(kind, []).append(expression)
    kv = groups.pop("kv", None)
    words = "|".join(f"(?P<{kind}>{'|'.join(alternatives)})"
                     for kind, alternatives in groups.items())
    text = f"(?<![A-Za-z0-9])(?:{words})"   # a variable starts where a word does (fast)
    return re.compile(f"(?P<kv>{kv[0]})|{text}" if kv else text)


_VARIABLE = _expression((True,) * len(_NEEDS))
_expressions: dict[tuple[bool, ...], re.Pattern[str]] = {}


def _variable(token: str) -> re.Pattern[str]:
    """_VARIABLE without the kinds that cannot occur in ``token`` (faster)."""
    present = ("=" in token, "://" in token, "@" in token, "-" in token, ":" in token,
               "." in token, "/" in token or "\\" in token)
    expression = _expressions.get(present)
    if expression is None:
        expression = _expressions[present] = _expression(present)
    return expression


_PLACEHOLDER = {"url": "<URL>", "email": "<EMAIL>", "uuid": "<UUID>", "ts": "<TS>",
                "ip": "<IP>", "host": "<HOST>", "path": "<PATH>", "hex": "<HEX>",
                "num": "<NUM>", "literal": WILDCARD, "kv": WILDCARD}
PLACEHOLDERS = frozenset(_PLACEHOLDER.values())
# What a token needs for _VARIABLE to find anything in it (a cheap test first).
_MAY_VARY = re.compile(r"[\d/\\=@:]")
_LITERALS = frozenset(("true", "false", "null", "nil", "True", "False", "None", "TRUE", "FALSE",
                       "NULL"))
_PUNCTUATION = ",.;:!?()[]{}\"'"
# A shape: the ASCII bytes with each digit made a 1 (each but 0 when 0x or 0X is there).
_DIGITS = bytes.maketrans(b"0123456789", b"1111111111")
_NONZERO_DIGITS = bytes.maketrans(b"23456789", b"11111111")
_TOKEN_CACHE_SIZE = 1 << 16
_SHAPE_BYTES = 1 << 22                  # at most so many bytes of shapes kept
_LINE_CACHE_SIZE = 1 << 13
_token_cache: dict[str, str] = {}       # token → masked token
_shape_cache: dict[bytes, tuple[tuple[Any, ...], bool]] = {}    # shape → _recipe(shape)
_shape_bytes = 0
# The masked tokens in _token_cache (and more) that _may_quantify: a line without any
# is left alone by _quantities (emptied with _token_cache).
_quantity_cache: set[str] = set()
_line_cache: dict[str, tuple[str, ...]] = {}
# An ASCII line's shape (as a token's) → its masked tokens when they hold no digit (then
# every line of that shape has them), else (): "Receiving blk_<NUM> from /<IP>" is
# masked once per shape, not once per line.
_line_shape_cache: dict[bytes, tuple[str, ...]] = {}
_DIGIT = re.compile(r"[0-9]")


def _spans(token: str) -> tuple[Any, ...]:
    """Where ``token`` is masked: (start, end, placeholder) flattened, in order."""
    core = token.strip(_PUNCTUATION)
    if core.isdigit():                     # most variable tokens: a number, maybe (wrapped),
        start = token.index(core)
        return (start, start + len(core), "<NUM>")
    if core in _LITERALS or _MAY_VARY.search(token) is not None:
        spans: list[Any] = []
        for match in _variable(token).finditer(token):
            kind = match.lastgroup
            if kind is not None:
                spans += (match.start(), match.end(), _PLACEHOLDER[kind])
        return tuple(spans)
    return ()


def _splice(token: str, spans: tuple[Any, ...]) -> str:
    """``token`` with its spans replaced (see _spans)."""
    pieces: list[str] = []
    last = 0
    for index in range(0, len(spans), 3):
        pieces += (token[last:spans[index]], spans[index + 2])
        last = spans[index + 1]
    pieces.append(token[last:])
    return "".join(pieces)


def _may_quantify(masked: str) -> bool:
    """Whether a masked token can make _quantities change a line: a unit (``ms``, ``KB),``),
    a number and its size in parentheses (``(<NUM>)``…), a number after one of ``<>~=``.
    Digits other than those of placeholders never count: a token and its shape agree."""
    return (masked.rstrip(")],;:.").lower() in _UNITS or masked.startswith("(<NUM>)")
            or (masked[0] in "<>~=" and not masked.startswith("<NUM>") and "<NUM>" in masked))


def _recipe(token: str) -> tuple[tuple[Any, ...], bool]:
    """How to mask ``token`` (or a token of its shape): its spans, and _may_quantify."""
    spans = _spans(token)
    return spans, _may_quantify(_splice(token, spans) if spans else token)


def _learn(shape: bytes) -> tuple[tuple[Any, ...], bool]:
    """_recipe for a shape not in _shape_cache, remembered."""
    global _shape_bytes
    recipe = _recipe(shape.decode())
    if len(_shape_cache) >= _TOKEN_CACHE_SIZE or _shape_bytes >= _SHAPE_BYTES:
        _shape_cache.clear()
        _shape_bytes = 0
    _shape_cache[shape] = recipe
    _shape_bytes += len(shape)
    return recipe


def _mask_token(token: str) -> str:
    """``token`` masked (a token that is not in _token_cache), remembered."""
    if token.isalpha():                    # a word: itself, or <*> for true, None…
        masked = WILDCARD if token in _LITERALS else token
        if token.lower() in _UNITS:
            _quantity_cache.add(masked)
        if len(token) <= 64:
            _token_cache[token] = masked
        return masked
    if token.isascii():
        spans, quantity = _shape_cache.get(shape := token.encode().translate(
            _NONZERO_DIGITS if "0x" in token or "0X" in token else _DIGITS)) or _learn(shape)
    else:
        spans, quantity = _recipe(token)
    if not spans:
        masked = token
    elif len(spans) == 3:
        masked = token[:spans[0]] + spans[2] + token[spans[1]:]
    else:
        masked = _splice(token, spans)
    if quantity:
        _quantity_cache.add(masked)
    if len(token) <= 64:
        _token_cache[token] = masked
    return masked


def mask(message: str) -> list[str]:
    """The tokens of ``message``'s first line, their variable parts replaced by placeholders."""
    cached = _line_cache.get(message)        # (its keys are first lines: message is one)
    if cached is not None:
        return list(cached)
    text = message.partition("\n")[0] if "\n" in message else message
    if len(text) > 512:                    # not remembered
        return _mask_line(text[:MAX_CHARS])
    if text is not message:
        cached = _line_cache.get(text)
        if cached is not None:
            return list(cached)
    if len(_line_cache) >= _LINE_CACHE_SIZE:
        _line_cache.clear()
    if not text.isascii():
        tokens = _mask_line(text)
        _line_cache[text] = tuple(tokens)
        return tokens
    shape = text.encode().translate(_NONZERO_DIGITS if "0x" in text or "0X" in text
                                    else _DIGITS)
    cached = _line_shape_cache.get(shape)
    if cached:                             # a line of this shape, its tokens without digits
        _line_cache[text] = cached
        return list(cached)
    tokens = _mask_line(text)
    cached = _line_cache[text] = tuple(tokens)
    if len(_line_shape_cache) >= _LINE_CACHE_SIZE:
        _line_shape_cache.clear()
    _line_shape_cache[shape] = () if _DIGIT.search(" ".join(tokens)) else cached
    return tokens


def _mask_line(text: str) -> list[str]:
    if len(_token_cache) >= _TOKEN_CACHE_SIZE or len(_quantity_cache) >= _TOKEN_CACHE_SIZE:
        _token_cache.clear()            # (never within a line: see _quantity_cache)
        _quantity_cache.clear()
    raw = text.split()
    tokens = list(map(_token_cache.get, raw, repeat("")))     # "" when not cached yet
    misses = tokens.count("")
    if misses:
        index = -1
        for _ in range(misses):
            index = tokens.index("", index + 1)
            tokens[index] = _mask_token(raw[index])
    if "<TS>" in tokens:
        tokens = _dates(raw, tokens)
    if not _quantity_cache.isdisjoint(tokens) and _QUANTITY.search(text) is not None:
        tokens = _quantities(tokens, _quantity_cache)
    del tokens[MAX_TOKENS:]
    return tokens


_DATE_WORDS = frozenset((
    "mon", "tue", "wed", "thu", "fri", "sat", "sun", "monday", "tuesday", "wednesday",
    "thursday", "friday", "saturday", "sunday", "jan", "feb", "mar", "apr", "may", "jun", "jul",
    "aug", "sep", "sept", "oct", "nov", "dec", "january", "february", "march", "april", "june",
    "july", "august", "september", "october", "november", "december"))


def _dates(raw: list[str], tokens: list[str]) -> list[str]:
    """A time with the weekday, month, day and year around it (``Sun Jul 10 03:55:21 2005``)
    is one ``<TS>``. ``raw`` and ``tokens`` are aligned (one masked token per raw one)."""
    out: list[str] = []
    index, count, floor = 0, len(tokens), 0
    while index < count:
        if tokens[index] != "<TS>" or (out and out[-1] == "<TS>"):   # date, then time
            if tokens[index] != "<TS>":
                out.append(tokens[index])
            index += 1
            continue
        start = index
        while start > floor and index - start < 3 and _dateish(raw[start - 1]):
            start -= 1
        if any(raw[i].lower().rstrip(",") in _DATE_WORDS for i in range(start, index)):
            del out[len(out) - (index - start):]
        out.append("<TS>")
        index += 1
        if index < count and _YEAR.fullmatch(raw[index]):
            index += 1
        floor = index
    return out


def _dateish(token: str) -> bool:
    return token.lower().rstrip(",") in _DATE_WORDS or _DAY.fullmatch(token) is not None


_DAY = re.compile(r"\d{1,2},?")
_YEAR = re.compile(r"\d{4}")


# A number and its unit are one quantity: ``12 ms``, ``1.5 MB``, ``3 bytes (3 KB)``.
_UNITS = frozenset((
    "b", "kb", "mb", "gb", "tb", "pb", "kib", "mib", "gib", "tib", "byte", "bytes", "bit", "bits",
    "ms", "us", "µs", "ns", "s", "sec", "secs", "second", "seconds", "min", "mins", "minute",
    "minutes", "h", "hr", "hrs", "hour", "hours", "day", "days", "%", "kbps", "mbps"))
_QUANTITY = re.compile(
    r"\d[)\],;:.]?\s+\(?(?:" + "|".join(sorted(_UNITS, key=len, reverse=True)) +
    r")(?![\w])|[<>~=(]\d", re.I)
_WRAPPED = re.compile(r"([(\[<~>=]*)<NUM>([)\],;:.]*)")


def _quantities(tokens: list[str], may: set[str] | None = None) -> list[str]:
    """``tokens`` with each number and its unit made one token. ``may`` holds at least the
    tokens of ``tokens`` that _may_quantify (all others are kept as they are)."""
    if may is None:
        may = {token for token in tokens if _may_quantify(token)}
    out: list[str] = []
    for token in tokens:
        if token not in may:
            out.append(token)
            continue
        wrapped = _WRAPPED.fullmatch(token) if "<NUM>" in token else None
        if wrapped is not None and wrapped.group(1) and not wrapped.group(1).strip("<>~="):
            token = "<NUM>" + wrapped.group(2)          # <1, ~5, >=3: a number
        if out and "<NUM>" in out[-1]:
            previous = _WRAPPED.fullmatch(out[-1])
            if previous is not None and not previous.group(2):
                unit = token.rstrip(")],;:.")
                if unit.lower() in _UNITS:             # 12 ms, (1.2 KB)
                    token = out.pop() + token[len(unit):]
        if out and out[-1] == "<NUM>" and token.startswith("(<NUM>)"):
            out[-1] += token[len("(<NUM>)"):]         # 1234 bytes (1.2 KB): one quantity
            continue
        out.append(token)
    return out


# -- templates --------------------------------------------------------------------------
@dataclass(eq=False)
class Template:
    id: str
    tokens: list[str]
    first_seen: float
    last_seen: float
    count: int = 1
    words: int = field(default=0, repr=False)     # constant words at birth

    @property
    def text(self) -> str:
        return " ".join(self.tokens)


def _words(tokens: list[str]) -> int:
    return len([token for token in tokens if token not in PLACEHOLDERS])


def _new_id(tokens: list[str]) -> str:
    return hashlib.sha1(" ".join(tokens).encode()).hexdigest()[:12]


class TemplateTree:
    """The templates of one service (see the module's docstring)."""

    def __init__(self, max_templates: int) -> None:
        self.max_templates = max_templates
        self._templates: OrderedDict[str, Template] = OrderedDict()   # least recent first
        self._index: dict[tuple[int, int, str], list[Template]] = {}  # (length, pos, token)
        self._exact: dict[tuple[str, ...], Template] = {}
        self._legacy: list[_Legacy] = []
        self._removed = False       # _exact may hold removed templates (ids can be reborn)

    @property
    def size(self) -> int:
        return len(self._templates) + len(self._legacy)

    # -- matching -----------------------------------------------------------------------
    def match(self, tokens: list[str], when: float) -> tuple[Template, bool]:
        """The template of ``tokens`` (widened if need be), and whether it is new."""
        key = tuple(tokens)
        template = self._exact.get(key)
        if template is not None and (not self._removed or
                                     self._templates.get(template.id) is template):
            template.count += 1                                  # self._seen, inlined
            if when > template.last_seen:
                template.last_seen = when
            self._templates.move_to_end(template.id)
            return template, False
        template = self._best(tokens)
        if template is not None:
            self._widen(template, tokens)
        elif self._legacy:
            template = self._migrate(tokens, when)
        if template is not None:
            self._remember(key, template)
            self._seen(template, when)
            return template, False
        template = Template(id=self._unique_id(_new_id(tokens)), tokens=list(tokens),
                            first_seen=when, last_seen=when, words=_words(tokens))
        self._add(template)
        self._remember(key, template)
        return template, True

    def _best(self, tokens: list[str]) -> Template | None:
        length = len(tokens)
        get = self._index.get
        agree: dict[Template, int] = {}        # by identity (eq=False), first seen first
        count = agree.get
        for position, token in enumerate(tokens):
            if token not in PLACEHOLDERS:
                for template in get((length, position, token), ()):
                    agree[template] = count(template, 0) + 1
        best: Template | None = None
        best_key = (0.0, 0)
        for template, words in agree.items():
            if words < MIN_CONSTANT * template.words:
                continue
            score = _similarity(template, tokens, words)
            if score is None:
                continue
            key = (score, words)
            if key > best_key:
                best, best_key = template, key
        return best

    def _widen(self, template: Template, tokens: list[str]) -> None:
        old = template.tokens
        if old == tokens:
            return
        new = [a if a == b else (a if a == WILDCARD else WILDCARD) for a, b in
               zip(old, tokens, strict=True)]
        # Placeholders of different kinds at one position become <*> too.
        if new != old:
            self._unindex(template)
            template.tokens = new
            self._index_template(template)

    def _seen(self, template: Template, when: float) -> None:
        template.count += 1
        if when > template.last_seen:
            template.last_seen = when
        self._templates.move_to_end(template.id)

    def _remember(self, key: tuple[str, ...], template: Template) -> None:
        if len(self._exact) >= 2 * self.max_templates:
            self._exact.clear()
        self._exact[key] = template

    # -- bookkeeping --------------------------------------------------------------------
    def _unique_id(self, ident: str) -> str:
        if ident not in self._templates and not self._legacy:
            return ident
        taken = {legacy.template.id for legacy in self._legacy}
        if ident not in self._templates and ident not in taken:
            return ident
        n = 1
        while f"{ident}-{n}" in self._templates or f"{ident}-{n}" in taken:
            n += 1
        return f"{ident}-{n}"

    def _add(self, template: Template) -> None:
        self._templates[template.id] = template
        self._index_template(template)
        while len(self._templates) + len(self._legacy) > self.max_templates:
            self._evict()

    def _index_template(self, template: Template) -> None:
        length = len(template.tokens)
        setdefault = self._index.setdefault
        for position, token in enumerate(template.tokens):
            if token not in PLACEHOLDERS:                       # (<*> is one)
                setdefault((length, position, token), []).append(template)

    def _unindex(self, template: Template) -> None:
        length = len(template.tokens)
        for position, token in enumerate(template.tokens):
            if token != WILDCARD and token not in PLACEHOLDERS:
                key = (length, position, token)
                bucket = self._index.get(key)
                if bucket is not None:
                    bucket[:] = [t for t in bucket if t is not template]
                    if not bucket:
                        del self._index[key]

    def _remove(self, template: Template) -> None:
        self._removed = True
        del self._templates[template.id]
        self._unindex(template)

    def _evict(self) -> None:
        if self._legacy:
            oldest = min(self._legacy, key=lambda legacy: legacy.template.last_seen)
            current = next(iter(self._templates.values()), None)
            if current is None or oldest.template.last_seen <= current.last_seen:
                self._legacy.remove(oldest)
                return
        self._remove(next(iter(self._templates.values())))

    def forget_older_than(self, when: float) -> None:
        for template in [t for t in self._templates.values() if t.last_seen < when]:
            self._remove(template)
        self._legacy = [legacy for legacy in self._legacy if legacy.template.last_seen >= when]
        self._exact = {k: t for k, t in self._exact.items() if t.id in self._templates}

    def templates(self) -> list[Template]:
        """Every template, least recently seen first."""
        return [legacy.template for legacy in self._legacy] + list(self._templates.values())

    # -- persistence ----------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Versioned, JSON-able state (``restore`` reads it back)."""
        return {"version": SNAPSHOT_VERSION,
                "templates": [_saved(t) for t in self._templates.values()],
                "legacy": [_saved(legacy.template) for legacy in self._legacy]}

    @classmethod
    def restore(cls, data: dict[str, Any] | list[dict[str, Any]],
                max_templates: int) -> TemplateTree:
        """A tree from ``snapshot()``'s output, or from the format before version 2: a
        list of ``{"id", "tokens", "first_seen", "last_seen", "count"}`` masked by the
        old masks. Those keep their ids: each is matched by a lenient pattern until a
        message of its kind comes, which turns it into a template of today's masks."""
        tree = cls(max_templates)
        if isinstance(data, list):
            legacy_items, items = data, []
        else:
            if data.get("version") != SNAPSHOT_VERSION:
                raise ValueError(f"unknown templates version {data.get('version')!r}")
            items, legacy_items = data.get("templates", []), data.get("legacy", [])
        for item in sorted(items, key=lambda i: i["last_seen"]):
            template = _loaded(item)
            template.words = _words(template.tokens)
            tree._templates[template.id] = template
            tree._index_template(template)
        for item in legacy_items:
            tree._legacy.append(_Legacy(_loaded(item)))
        while tree.size > max_templates:
            tree._evict()
        return tree

    def _migrate(self, tokens: list[str], when: float) -> Template | None:
        text = " ".join(tokens)
        for legacy in self._legacy:
            if legacy.pattern.fullmatch(text):
                self._legacy.remove(legacy)
                old = legacy.template
                if len(legacy.wild) == len(tokens):
                    tokens = [WILDCARD if wild else token
                              for wild, token in zip(legacy.wild, tokens, strict=True)]
                template = Template(id=old.id, tokens=list(tokens), first_seen=old.first_seen,
                                    last_seen=old.last_seen, count=old.count,
                                    words=_words(tokens))
                self._add(template)
                return template
        return None


def _similarity(template: Template, tokens: list[str], words: int) -> float | None:
    """Share of the template's constant tokens that ``tokens`` agrees with, or None when
    some token that differs cannot be a variable."""
    constant = 0
    previous = ""
    count = template.count
    for a, b in zip(template.tokens, tokens, strict=True):
        if a == WILDCARD or (a in PLACEHOLDERS and b in PLACEHOLDERS):
            previous = a
            continue
        constant += 1
        if a != b and not _may_vary(a, b, count, previous):
            return None
        previous = a
    if not constant:
        return None
    score = words / constant
    if score < SIMILARITY:
        return None
    return score


def _may_vary(a: str, b: str, count: int, previous: str) -> bool:
    """Whether a position that holds ``a`` in a template seen ``count`` times, and ``b``
    in a message, can be a variable. Placeholders are variables by their type; a word
    is a constant (what tells messages apart) unless it names the value of a slot such
    as ``user NAME``; another token (an identifier, a host name) is a variable unless the
    template held it unchanged ``STABLE`` times."""
    if _PURE_PLACEHOLDER.fullmatch(a) or _PURE_PLACEHOLDER.fullmatch(b):
        return True
    if not (_wordlike(a) and _wordlike(b)):
        return count < STABLE
    return previous.strip(_PUNCTUATION).lower() in _SLOTS


_SLOTS = frozenset((
    "user", "username", "login", "account", "role", "group", "tenant", "host", "hostname",
    "server", "node", "service", "container", "pod", "file", "filename", "directory", "table",
    "column", "relation", "database", "schema", "queue", "topic", "bucket", "key", "index",
    "device", "interface", "module", "package", "class", "method", "function", "field",
    "attribute", "property", "named", "usuário", "usuario", "arquivo", "archivo", "tabela",
    "tabla"))


_PURE_PLACEHOLDER = re.compile(r"[^\w<>]*(?:<[A-Z]+>|<\*>)[^\w<>]*")


def _wordlike(token: str) -> bool:
    return token.strip(",.;:!?()[]{}\"'").isalpha()


def _saved(template: Template) -> dict[str, Any]:
    return {"id": template.id, "tokens": template.tokens, "first_seen": template.first_seen,
            "last_seen": template.last_seen, "count": template.count}


def _loaded(item: dict[str, Any]) -> Template:
    return Template(id=str(item["id"]), tokens=[str(t) for t in item["tokens"]],
                    first_seen=float(item["first_seen"]), last_seen=float(item["last_seen"]),
                    count=int(item["count"]))


# -- templates saved before version 2 ----------------------------------------------------
_OLD_PLACEHOLDER = re.compile(r"<(?:TS|UUID|URL|EMAIL|IP|PATH|STR|HEX|NUM|\*)>")
_SENTINEL = "\x01"
_OLD_SAMPLES = {"<TS>": "2026-01-01T00:00:00Z", "<UUID>": "00000000-0000-0000-0000-000000000000",
                "<URL>": "http://host/x", "<EMAIL>": "a@host.io", "<IP>": "10.0.0.1",
                "<PATH>": "/a/b", "<HEX>": "0xff", "<NUM>": "7", "<STR>": _SENTINEL,
                WILDCARD: _SENTINEL}
_LEGACY_PIECES = re.compile(f"({_SENTINEL}|<[A-Z]+>|<\\*>)")


class _Legacy:
    """A template saved before version 2: masked by the old masks, from whole lines (time,
    level and logger included). It is matched by a lenient pattern over today's masked
    text of the message without its prefix: the old template with sample values in its
    placeholders goes through today's prefix stripping and masks, and then every
    placeholder may stand for anything (even several words: the old ``<STR>`` swallowed
    quoted spans, and ``<*>`` may stand where it did)."""

    def __init__(self, template: Template) -> None:
        self.template = template
        sample = _OLD_PLACEHOLDER.sub(lambda m: _OLD_SAMPLES[m.group()],
                                      " ".join(template.tokens))
        parts = []
        tokens = mask(strip_prefix(sample))
        self.wild = [token == _SENTINEL for token in tokens]     # was <*> or <STR> alone
        for token in tokens:
            parts.append("".join(".+?" if piece == _SENTINEL or piece in PLACEHOLDERS
                                 else re.escape(piece)
                                 for piece in _LEGACY_PIECES.split(token) if piece))
        self.pattern = re.compile(" ".join(parts), re.S)

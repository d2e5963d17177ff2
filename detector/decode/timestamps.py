"""Timestamps: the leading time of a plain line, and time values in JSON fields.

Formats: ISO-8601 (``T`` or space, optional fraction, ``Z``/offset/``UTC``),
Python logging's ``YYYY-MM-DD HH:MM:SS,mmm``, ``YYYY/MM/DD HH:MM:SS`` (nginx error
log), nginx/Apache ``[20/Nov/2026:10:00:00 +0000]``, syslog ``Nov 20 10:00:00``
(the year is inferred), and epoch seconds, milliseconds, micro- or nanoseconds.
A time without a zone is UTC. Results are epoch seconds (float).

A time outside ``PLAUSIBLE`` (before 1980 or from 2100 on: Go's zero time, year 9999,
``1e308``, NaN) is absurd: :func:`plausible` says so, and the decoder treats the line as
untimed (and counts it), so that one wild stamp never drags event time across decades.
"""

from __future__ import annotations

import calendar
import re
import time

__all__ = ["PLAUSIBLE", "leading_timestamp", "parse_iso", "parse_time_value", "plausible"]

_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    start=1)}

# Searched near the start of a line only (a timestamp later in a line is content).
_LEADING = re.compile(
    r"(?P<iso>(?P<y>\d{4})[-/](?P<mo>\d\d)[-/](?P<d>\d\d)[T ](?P<h>\d\d):(?P<mi>\d\d):(?P<s>\d\d)"
    r"(?:[.,](?P<frac>\d{1,9}))?\s?(?P<tz>Z|[+-]\d\d:?\d\d|UTC|GMT)?)"
    r"|(?P<clf>\[(?P<cd>\d\d)/(?P<cmo>[A-Z][a-z]{2})/(?P<cy>\d{4}):(?P<ch>\d\d):(?P<cmi>\d\d)"
    r":(?P<cs>\d\d)(?:\.(?P<cfrac>\d{1,6}))?\s(?P<ctz>[+-]\d{4})\])"
)
_SYSLOG = re.compile(
    r"^(?:<\d{1,3}>)?(?P<mo>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) {1,2}(?P<d>\d{1,2}) "
    r"(?P<h>\d\d):(?P<mi>\d\d):(?P<s>\d\d)(?:\.(?P<frac>\d{1,6}))?\b")
_ISO_ONLY = re.compile(
    r"^\s*(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d{1,9}))?)?)?"
    r"\s?(Z|[+-]\d\d:?\d\d|UTC|GMT)?\s*$")

PLAUSIBLE = (315532800.0, 4102444800.0)      # 1980-01-01 ≤ t < 2100-01-01 (UTC)


def plausible(when: float) -> bool:
    """Is ``when`` a time a log line can really have (False for NaN too)?"""
    return PLAUSIBLE[0] <= when < PLAUSIBLE[1]


_SECOND_CACHE: dict[tuple[int, int, int, int, int, int], int] = {}


def _epoch(y: int, mo: int, d: int, h: int, mi: int, s: int) -> int | None:
    key = (y, mo, d, h, mi, s)
    cached = _SECOND_CACHE.get(key)
    if cached is not None:
        return cached
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h <= 23 and mi <= 59 and s <= 60
            and 1 <= y <= 9999):
        return None
    value = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
    if len(_SECOND_CACHE) > 4096:
        _SECOND_CACHE.clear()
    _SECOND_CACHE[key] = value
    return value


def _offset(tz: str | None) -> int:
    if not tz or tz in ("Z", "UTC", "GMT"):
        return 0
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60)


def _fraction(text: str | None) -> float:
    return int(text) / 10 ** len(text) if text else 0.0


def leading_timestamp(line: str, *, year_hint: int | None = None) -> float | None:
    """The timestamp at (or near) the start of a plain log line, if any."""
    head = line[:96]
    match = _LEADING.search(head)
    if match is not None and match.start() <= 48:
        (iso, y, mo, d, h, mi, s, frac, tz,
         _, cd, cmo, cy, ch, cmi, cs, cfrac, ctz) = match.groups()
        if iso:
            base = _epoch(int(y), int(mo), int(d), int(h), int(mi), int(s))
            if base is None:
                return None
            return base - _offset(tz) + _fraction(frac)
        month = _MONTHS.get(cmo.lower())
        if month is None:
            return None
        base = _epoch(int(cy), month, int(cd), int(ch), int(cmi), int(cs))
        if base is None:
            return None
        return base - _offset(ctz) + _fraction(cfrac)
    syslog = _SYSLOG.match(head)
    if syslog is not None:
        year = year_hint or time.gmtime().tm_year
        base = _epoch(year, _MONTHS[syslog.group("mo").lower()], int(syslog.group("d")),
                      int(syslog.group("h")), int(syslog.group("mi")), int(syslog.group("s")))
        return None if base is None else base + _fraction(syslog.group("frac"))
    return None


def parse_iso(text: str) -> float | None:
    """A whole string that is an ISO-8601 date-time (or date)."""
    match = _ISO_ONLY.match(text)
    if match is None:
        return leading_timestamp(text)
    y, mo, d, h, mi, s, frac, tz = match.groups()
    base = _epoch(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))
    if base is None:
        return None
    return base - _offset(tz) + _fraction(frac)


def parse_time_value(value: object) -> float | None:
    """A JSON time field: ISO-8601 text, or epoch seconds/ms/µs/ns as number or digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return _from_epoch(float(value))
        except OverflowError:
            return None
    if isinstance(value, dict):            # protobuf Timestamp (Google Cloud Logging)
        seconds = value.get("seconds")
        if isinstance(seconds, int | str) and str(seconds).isdigit():
            nanos = value.get("nanos")
            return int(seconds) + (nanos / 1e9 if isinstance(nanos, int) else 0.0)
        return None
    if isinstance(value, str):
        if value.isdigit() or _looks_numeric(value):
            try:
                return _from_epoch(float(value))
            except ValueError:
                return None
        return parse_iso(value)
    return None


def _looks_numeric(text: str) -> bool:
    head, _, tail = text.partition(".")
    return head.isdigit() and (not tail or tail.isdigit())


def _from_epoch(number: float) -> float | None:
    if not number > 0:                     # NaN too
        return None
    if number > 1e17:
        return number / 1e9
    if number > 1e14:
        return number / 1e6
    if number > 1e11:
        return number / 1e3
    return number

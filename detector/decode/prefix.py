"""A log line without its header: the leading time, level and logger/process prefix.

``strip_prefix`` reads the start of a line as a sequence of header elements —
a docker-compose ``name  | `` prefix, timestamps (ISO-8601, ``YYYY-MM-DD HH:MM:SS,mmm``,
syslog ``Nov 20 10:00:00``, ``[20/Nov/2026:10:00:00 +0000]``, bracketed or not, a bare
``HH:MM:SS``), level words (``ERROR``, ``[error]``, ``level=error``, ``<E>``, a single
``E`` after a time), process ids (``pid 123``, ``[123]``, ``prog[123]:``), bracketed
names without spaces (``[worker-sync]``, ``[MainThread]``) and logger names (``app.module:``,
``module:function:42 -``) — and returns what follows. It is conservative: a header must
hold a time or a level (else only a docker-compose prefix goes), a logger name must
look like one (dotted, ``root``, ``__main__``, or followed by `` - ``), an exception
name is never taken for a logger, and a line that would be left empty is returned whole.
"""

from __future__ import annotations

import re

__all__ = ["strip_prefix"]

_LEVELS = (r"(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRITICAL|CRIT|FATAL|ALERT|"
           r"EMERG|PANIC|SEVERE)")
_LOWER_LEVELS = (r"(?:trace|debug|info|notice|warn|warning|error|err|critical|crit|fatal|"
                 r"alert|emerg|panic)")
_ISO = (r"\d{4}[-/]\d\d[-/]\d\d(?:[T ]|, )\d\d:\d\d(?::\d\d)?(?:[.,]\d{1,9})?"
        r"(?:\s?(?:Z|[+-]\d\d:?\d\d|UTC|GMT))?")
_TIME = re.compile(
    rf"(?:\[(?:{_ISO})(?::\s*{_LEVELS}(?:/[\w-]+)?)?\]"                   # [iso] [iso: ERROR/Main]
    rf"|\[\d\d/[A-Z][a-z]{{2}}/\d{{4}}:\d\d:\d\d:\d\d(?:\.\d+)?\s[+-]\d{{4}}\]"   # [20/Nov/2026:…]
    rf"|{_ISO}"
    r"|(?:<\d{1,3}>)?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) {1,2}\d{1,2} "
    r"\d\d:\d\d:\d\d(?:\.\d{1,6})?(?: \d{4})?"                              # syslog
    r"|[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+"                                     # klog/glog
    r"|\d\d-\d\d \d\d:\d\d:\d\d\.\d+"                                       # logcat
    r"|\[?\d\d:\d\d:\d\d(?:[.,]\d{1,9})?\]?"                                # bare time
    r"|\d{10}(?:\.\d+)?"                                                    # epoch seconds
    r")(?::\s|\s+)")
_LEVEL = re.compile(
    rf"(?:\[{_LEVELS}\]|<{_LEVELS}>|{_LEVELS}(?:/[\w-]+)?|\[{_LOWER_LEVELS}\]"
    rf"|(?:level|lvl|severity)=\"?(?:{_LEVELS}|{_LOWER_LEVELS}|[A-Za-z]+)\"?"
    rf"|\[[DIWEFV]\]|<[DIWEFV]>)(?::\s*|\s+)")
# E, E/Tag:, E/Tag( 12): (logcat, brief), E Tag: (logcat, threadtime)
_LETTER = re.compile(r"[DIWEFV](?:/[\w.$-]+(?:\(\s*\d+\))?:\s+|\s+(?:[\w.$-]+\s*:\s+)?)")
_BRACKET = re.compile(r"\[[^\]\s]{1,64}\]:?\s+")
# pid 12, (pid=12), nginx's 12#0: *3; after a time, bare pid (and tid) numbers
_PID = re.compile(r"(?:\(?pid[ =:]\d+\)?|\d+#\d+:(?:\s+\*\d+)?)[:,]?\s+")
_NUMBERS = re.compile(r"\d{1,7}(?:\s+\d{1,7})?\s+")
# [host] prog[12]: (syslog), file.go:42] (klog)
_PROC = re.compile(r"(?:[\w.-]+\s+)?[\w./-]+\[\d+\]:\s+|[\w.-]+:\d+\]\s+")
_LOGGER = re.compile(
    r"(?:(?P<dotted>[a-z_][\w-]*(?:\.[a-z_][\w-]*)+|root|__main__)(?::\d+)?:\s*"
    r"|[\w.<>-]+(?::[\w<>-]+)*(?::\d+)?\s+-\s+)")
_SEPARATOR = re.compile(r"[|:-]\s+")
_COMPOSE = re.compile(r"[\w.-]+\s*\|\s+")
_KEYS = re.compile(r"(?:time|ts|timestamp|pid|logger|caller)=(?:\"[^\"]*\"|\S+)\s+")
MAX_ELEMENTS = 8


# (kind, pattern, when it may start: always, after a time, once a header is anchored by a
# time or a level, or inside a header), tried in this order at each position.
_ALWAYS, _AFTER_TIME, _ANCHORED, _INSIDE = range(4)
_ELEMENTS: tuple[tuple[str, re.Pattern[str], int], ...] = (
    ("time", _TIME, _ALWAYS),
    ("level", _LEVEL, _ALWAYS),
    ("level", _LETTER, _AFTER_TIME),
    ("pid", _PID, _ALWAYS),
    ("pid", _NUMBERS, _AFTER_TIME),
    ("keys", _KEYS, _ALWAYS),
    ("name", _BRACKET, _ALWAYS),
    ("name", _PROC, _ALWAYS),
    ("name", _LOGGER, _ANCHORED),
    ("separator", _SEPARATOR, _INSIDE),
)


def strip_prefix(text: str) -> str:
    """``text`` without its leading time, level and logger/process prefix (if any)."""
    position = 0
    compose = _COMPOSE.match(text)
    if compose is not None:
        position = compose.end()
    start = cut = position
    anchored = after_time = False       # a time or a level was seen: this is a header
    for _ in range(MAX_ELEMENTS):
        found = _element(text, position, anchored, after_time, position > start)
        if found is None:
            break
        kind, position = found
        if kind in ("time", "level"):
            anchored, after_time = True, kind == "time"
        if anchored:
            cut = position
    rest = text[cut:]
    return rest if rest.strip() else text


def _element(text: str, position: int, anchored: bool, after_time: bool,
             inside: bool) -> tuple[str, int] | None:
    """The kind and end of the header element at ``position``, if one starts there."""
    allowed = (True, after_time, anchored, inside)
    for kind, pattern, when in _ELEMENTS:
        if allowed[when] and (match := pattern.match(text, position)) is not None:
            return kind, match.end()
    return None

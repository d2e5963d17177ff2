"""Log levels: from a plain line's level word or HTTP status, and from JSON values."""

from __future__ import annotations

import re

from detector.model import CRITICAL, DEBUG, ERROR, INFO, NOLEVEL, WARNING

__all__ = ["LEVEL_PREFILTERS", "level_of_line", "level_of_value"]

_WORDS = {
    "trace": DEBUG, "debug": DEBUG, "dbg": DEBUG,
    "info": INFO, "information": INFO, "notice": INFO,
    "warn": WARNING, "warning": WARNING,
    "error": ERROR, "err": ERROR, "exception": ERROR, "severe": ERROR,
    "critical": CRITICAL, "crit": CRITICAL, "fatal": CRITICAL, "alert": CRITICAL,
    "emerg": CRITICAL, "emergency": CRITICAL, "panic": CRITICAL,
}
# The first level token near the start of a line: Python logging and most
# frameworks (uppercase words, `[ERROR]`, `ERROR/MainProcess`), nginx/Apache error
# logs (`[error]`, `[crit]`), logfmt (`level=error`).
_LEVEL = re.compile(
    r"(?<![\w.-])(?P<upper>TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|EXCEPTION|SEVERE|"
    r"CRITICAL|CRIT|FATAL|ALERT|EMERG|PANIC)(?![\w-])"
    r"|\[(?P<bracket>debug|info|notice|warn|warning|error|crit|alert|emerg)\]"
    r"|\blevel=\"?(?P<logfmt>[A-Za-z]+)")
# An access-log line: the quoted request, then the status.
_ACCESS = re.compile(r'"[A-Z]{3,7} [^"]* HTTP/\d(?:\.\d)?" (?P<status>[1-5]\d\d)(?: |$)')

# Byte patterns (prefilter dialect) that find every line whose level could be
# error or worse, so those lines reach the decoder even when no signature matches.
LEVEL_PREFILTERS = (
    rb"(?:\b|\\[nrt])(?:ERROR|ERR|EXCEPTION|SEVERE|CRITICAL|CRIT|FATAL|ALERT|EMERG|PANIC)\b",
    rb"\[(?:error|crit|alert|emerg)\]",
    rb"(?:[lL][eE][vV][eE][lL]|[sS][eE][vV][eE][rR][iI][tT][yY]|[lL][vV][lL])\\?\"?\s*[=:]\s*"
    rb"\\?\"?(?:[eE][rR][rR]|[cC][rR][iI][tT]|[fF][aA][tT][aA][lL]|[aA][lL][eE][rR][tT]|"
    rb"[eE][mM][eE][rR][gG]|[pP][aA][nN][iI][cC]|[sS][eE][vV][eE][rR][eE]|50|60)",
    rb"\" 5\d\d\b",
    rb"\"PRIORITY\"\s*:\s*\"?[0-3]\b",           # journald's JSON: emerg … err
)


def level_of_line(text: str) -> int:
    """The level of a plain line: its first level word, or its 5xx/4xx access-log status."""
    head = text[:200]
    access = _ACCESS.search(head)
    if access is not None:
        status = int(access.group("status"))
        if status >= 500:
            return ERROR
        if status >= 400:
            return WARNING
        return INFO
    match = _LEVEL.search(head)
    if match is None:
        return NOLEVEL
    word = match.group("upper") or match.group("bracket") or match.group("logfmt")
    return _WORDS.get(word.lower(), NOLEVEL)


def level_of_value(value: object) -> int:
    """A JSON level field: a name, or a pino/bunyan number (10 trace … 60 fatal)."""
    if isinstance(value, str):
        level = _WORDS.get(value.strip().lower())
        if level is not None:
            return level
        return level_of_value(int(value)) if value.isdigit() else NOLEVEL
    if isinstance(value, bool) or not isinstance(value, int | float):
        return NOLEVEL
    number = int(value)
    if number >= 60:
        return CRITICAL
    if number >= 50:
        return ERROR
    if number >= 40:
        return WARNING
    if number >= 30:
        return INFO
    return DEBUG if number > 0 else NOLEVEL

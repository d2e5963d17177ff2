"""Masking secrets in anything the detector writes or sends.

Applied to every sample line in an incident, every outgoing payload and every
log line: ``Authorization``/Bearer/Basic credentials, JWTs, ``password=``,
``api_key=``/``secret=``/``token=`` style pairs (``key=value``, ``key: value``
and JSON ``"key": "value"``), credentials in URLs, AWS access key ids and
secrets, provider tokens (Slack, GitHub, Stripe, Google, private keys), and
card-like numbers that pass the Luhn check.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["MASK", "redact", "redact_value"]

MASK = "***"

_SECRET_KEYS = (
    r"pass(?:word|wd|phrase)?|pwd|secret(?:[_-]?key)?|client[_-]?secret|api[_-]?key|apikey|"
    r"api[_-]?secret|access[_-]?key(?:[_-]?id)?|secret[_-]?access[_-]?key|private[_-]?key|"
    r"(?:access|refresh|id|auth|session|csrf|bearer)?[_-]?token|auth|authorization|"
    r"x[_-]api[_-]key|x-mbx-apikey|signature|sig|credentials?|cookie|set-cookie|dsn|"
    r"routing[_-]?key|webhook[_-]?secret"
)
_STRONG_KEYS = (
    r"pass(?:word|wd|phrase)?|pwd|secret(?:[_-]?key)?|client[_-]?secret|api[_-]?key|apikey|"
    r"api[_-]?secret|access[_-]?key(?:[_-]?id)?|secret[_-]?access[_-]?key|private[_-]?key|"
    r"(?:access|refresh|id|auth|session|csrf|bearer)[_-]?token|token|x[_-]api[_-]key|"
    r"x-mbx-apikey|cookie|set-cookie|routing[_-]?key|webhook[_-]?secret"
)
_RULES: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    # PEM private keys, whole block (possibly with literal \n inside JSON).
    (re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----.*?-----END (?:[A-Z]+ )?PRIVATE KEY-----",
                re.S), f"-----BEGIN PRIVATE KEY-----{MASK}-----END PRIVATE KEY-----"),
    # Authorization headers, whatever the scheme
    (re.compile(r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)"
                r"(?:(bearer|basic|digest|token|negotiate)\s+)?(?!\*\*\*)[^\s\"',;]+"),
     lambda m: f"{m.group(1)}{m.group(2) + ' ' if m.group(2) else ''}{MASK}"),
    # a bare Bearer credential
    (re.compile(r"(?i)\b(bearer)(\s+)(?!\*\*\*)[A-Za-z0-9\-._~+/]{8,}=*"), rf"\1\2{MASK}"),
    # JSON Web Tokens anywhere
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), MASK),
    # user:password@ in URLs
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]{1,20}://)([^\s:/@\"']+):([^\s@/\"']+)@"),
     rf"\1\2:{MASK}@"),
    # JSON / dict style: "password": "x" or 'password': 'x'
    (re.compile(rf"(?i)([\"'](?:[\w.-]*[_.-])?(?:{_SECRET_KEYS})[\"']\s*:\s*)([\"'])((?:\\.|(?!\2).)*)\2"),
     rf"\1\2{MASK}\2"),
    # key=value (logfmt, query strings, env files, command lines)
    (re.compile(rf"(?i)(?<![\w-])((?:[\w.-]*[_.-])?(?:{_SECRET_KEYS}))(\s*=\s*)"
                r"(?!\*\*\*|(?:bearer|basic|digest|token|negotiate)\s)"
                r"(\"[^\"]*\"|'[^']*'|[^\s&,;\"'}\]]+)"), rf"\1\2{MASK}"),
    # key: value (YAML, headers, dict reprs): only unambiguous secret names, written
    # without a space before the colon, so prose such as "credentials: x" is left alone.
    (re.compile(rf"(?i)(?<![\w-])((?:[\w.-]*[_.-])?(?:{_STRONG_KEYS})):(\s*)"
                r"(?!\*\*\*|(?:bearer|basic|digest|token|negotiate)\s)"
                r"(\"[^\"]*\"|'[^']*'|[^\s&,;\"'}\]]+)"), rf"\1:\2{MASK}"),
    # AWS access key ids
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"), MASK),
    # Provider tokens
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), MASK),                      # Slack
    (re.compile(r"\bhooks\.slack\.com/services/[A-Za-z0-9/]+"), f"hooks.slack.com/services/{MASK}"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"), MASK),                          # GitHub
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{30,}"), MASK),
    (re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}"), MASK),        # Stripe
    (re.compile(r"\bwhsec_[A-Za-z0-9]{10,}"), MASK),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), MASK),                               # Google
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), MASK),                            # GitLab
]
_CARD = re.compile(r"(?<![\d.])(?:\d[ -]?){12,18}\d(?![\d.])")


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        number = ord(char) - 48
        if index % 2 == 1:
            number *= 2
            if number > 9:
                number -= 9
        total += number
    return total % 10 == 0


def _mask_card(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = "".join(c for c in text if c.isdigit())
    if 13 <= len(digits) <= 19 and _luhn(digits) and len(set(digits)) > 1:
        return f"{MASK}{digits[-4:]}"
    return text


# Every rule above needs one of these to be present; most log lines have none, and a
# few substring checks on the lower-cased text cost far less than running every rule.
_KEYWORDS = ("pass", "pwd", "secret", "key", "token", "auth", "bearer", "basic", "digest",
             "sig", "cred", "cookie", "dsn", "eyj", "://", "akia", "asia", "agpa", "aida",
             "aroa", "anpa", "anva", "aipa", "xox", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
             "github_pat", "_live_", "_test_", "whsec_", "aiza", "glpat-", "private key")
_CARD_TRIGGER = re.compile(r"\d{4}[ -]?\d{4}")


def _may_hold_secret(text: str) -> bool:
    lowered = text.lower()
    for keyword in _KEYWORDS:
        if keyword in lowered:
            return True
    return _CARD_TRIGGER.search(text) is not None


def redact(text: str) -> str:
    """``text`` with every secret it shows replaced by ``***``."""
    if not _may_hold_secret(text):
        return text
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return _CARD.sub(_mask_card, text)


def redact_value(value: Any) -> Any:
    """Redact every string inside a JSON-like value; secret-named keys lose their value."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: (MASK if isinstance(k, str) and _SECRET_KEY.fullmatch(k) and v
                    and isinstance(v, str) else redact_value(v))
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


_SECRET_KEY = re.compile(rf"(?i)(?:[\w.-]*[_.-])?(?:{_SECRET_KEYS})")

"""The project's own redaction rules: what gitleaks' rules do not cover in logs.

gitleaks looks for provider tokens in source files; logs also carry secrets by *name*
and by *place*: ``password=…`` and ``"token": "…"`` pairs, ``Authorization`` and
``Cookie`` headers, credentials in URLs (``redis://:pass@host`` too), command lines
(``--password X``, ``sshpass -p X``, ``mysql -pX``, ``PGPASSWORD=…``), private keys
(PEM blocks across lines, with literal ``\\n``, or cut short), card numbers that pass
the Luhn check, and provider tokens in shapes gitleaks does not match (OpenAI and
Anthropic ``sk-`` keys without the ``T3BlbkFJ`` marker, Telegram bot tokens, Discord
bot tokens and webhooks, Meta ``EAA…`` tokens, Mailgun ``key-…``, Vault ``hvs.…``,
Google OAuth secrets and tokens).

Every rule gives the spans of secret to mask, never the name that labels it, so a
masked line still reads ``password=***``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from detector.redact._translate import guarded

__all__ = ["LOCAL_RULES", "SECRET_NAME", "LocalRule"]

Span = tuple[int, int]

# -- names of secrets ----------------------------------------------------------------
# Words that name a secret whatever comes before them (``PGPASSWORD``, ``clientSecret``,
# ``x-auth-token``), and words that do so only as a whole key or after a separator
# (``db_pass`` but not ``bypass``; ``basic_auth`` but not ``oauth``).
_ANY_PREFIX = (r"pass(?:word|wd|phrase|code)|secret|token|api[_-]?key|account[_-]?key|"
               r"session[_-]?id")
_AFTER_SEPARATOR = (
    r"pass|pwd|auth|authorization|credentials?|cookie|dsn|sig|signature|"
    r"private[_-]?key|access[_-]?key(?:[_-]?id)?|secret[_-]?(?:access[_-]?)?key|"
    r"api[_-]?secret|routing[_-]?key|integration[_-]?key|shared[_-]?access[_-]?key|"
    r"master[_-]?key|encryption[_-]?key|signing[_-]?key|session[_-]?(?:token|key)|"
    r"jsessionid|phpsessid|x-mbx-apikey")
_NAME = rf"(?:[\w.-]*(?:{_ANY_PREFIX})|(?:[\w.-]*[_.-])?(?:{_AFTER_SEPARATOR}))"
SECRET_NAME = re.compile(_NAME, re.I | re.ASCII)
"""A key whose value is a secret (``fullmatch``), for structured values."""

# Names that label passwords: their values are masked even when they read like words.
_PASSWORD_NAME = re.compile(r"(?i)pass|pwd")
# Names worth masking after ``name: value`` (YAML, headers, reprs); prose such as
# ``credentials: bad auth`` or ``signature: invalid`` is left alone.
_COLON_NAME = re.compile(
    rf"(?:[\w.-]*(?:{_ANY_PREFIX})|(?:[\w.-]*[_.-])?(?:pass|pwd|private[_-]?key|"
    r"access[_-]?key(?:[_-]?id)?|secret[_-]?(?:access[_-]?)?key|api[_-]?secret|routing[_-]?key|"
    r"integration[_-]?key|shared[_-]?access[_-]?key|master[_-]?key|encryption[_-]?key|"
    r"signing[_-]?key|session[_-]?(?:token|key)|jsessionid|phpsessid|x-mbx-apikey))",
    re.I | re.ASCII)

# A value after ``=``: quoted (plain, JSON-escaped, or a Python ``b'…'``) or a run up to a
# delimiter. A ``)`` ends it only when nothing of the value follows (``(password=x)``
# keeps its bracket).
_VALUE = (r"(\\\"(?:[^\"\\]|\\[^\"])*\\\"|[bBrRuU]{0,2}\"[^\"\n]*\"|[bBrRuU]{0,2}'[^'\n]*'|"
          r"(?:[^\s&,;\"'}\])\\]|\\\\|\\(?![nrt\"'\\])|\)(?=[^\s&,;\"'})\]\\]))+)")
_SCHEMES = r"bearer|basic|digest|token|bot|negotiate|ntlm|apikey|sso-key|hmac|otp"


@dataclass(frozen=True, slots=True)
class LocalRule:
    id: str
    keywords: tuple[str, ...]
    find: Callable[[str], Iterable[Span]]
    triggers: tuple[str, ...] = ()

    def spans(self, text: str) -> Iterable[Span]:
        return self.find(text)


def _compile(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(guarded(pattern, flags | re.ASCII), flags | re.ASCII)


# Values that stand for no secret: flags, empties, masks, references to one elsewhere.
_PLACEHOLDER = re.compile(
    r"(?i)[\"']?(?:yes|no|true|false|null|none|nil|empty|redacted|hidden|masked|\*+|<[^>]*>"
    r"|\$\{?\w+\}?|\{\{[^}]*\}\}|%\(?\w*\)?s)?[\"']?")


_QUOTED = re.compile(r"(?:[bBrRuU]{0,2}(['\"])|\\\")(.*)(?:\1|\\\")\Z", re.S)


def _unquoted(match: re.Match[str], group: int) -> Span:
    """The span of a value without the quotes around it: ``password='***'`` stays quoted."""
    start, end = match.span(group)
    quoted = _QUOTED.match(match.string, start, end)
    if quoted is not None and quoted.group(2):
        return quoted.span(2)
    return start, end


def _groups(pattern: str, *groups: int, flags: int = 0,
            values: bool = False) -> Callable[[str], Iterator[Span]]:
    """Spans of the given groups of every match (the whole match when none named).

    ``values``: the groups hold values, and a placeholder (``NO``, ``***``, ``$VAR``)
    is no secret.
    """
    compiled = _compile(pattern, flags)
    wanted = groups or (0,)

    def find(text: str) -> Iterator[Span]:
        for match in compiled.finditer(text):
            for group in wanted:
                value = match.group(group)
                if not value:
                    continue
                if not values:
                    yield match.span(group)
                elif not _PLACEHOLDER.fullmatch(value):
                    yield _unquoted(match, group)
    return find


# -- name = value, "name": "value", name: value -------------------------------------
# Found from the end of the name: a search for the secret words (a literal
# alternation, quick to reject) where ``=`` or ``:`` follows, then the whole name is
# read back and the value read forward, by the form the name is written in.
_NAME_END = _compile(
    rf"(?i)(?:{_ANY_PREFIX}|(?<![a-z0-9])(?:{_AFTER_SEPARATOR}))(?=\\?[\"']?\s*[=:])")
_KEY_CHARS = frozenset(string.ascii_letters + string.digits + "_.-")
_AFTER_QUOTED_KEY = re.compile(
    r"\s*:\s*(?:([\"'])((?:\\.|(?!\1)[^\\\n])*)\1|(-?\d[\d.]*))")
_AFTER_ESCAPED_KEY = re.compile(r'\s*:\s*\\"((?:[^"\\]|\\[^"])*)\\"')
_AFTER_EQUALS = re.compile(rf"[ \t]*=>?[ \t]*(?!\*\*\*|(?:{_SCHEMES})\s){_VALUE}", re.I | re.ASCII)
_AFTER_COLON = re.compile(rf":[ \t]*(?!\*\*\*|(?:{_SCHEMES})\s){_VALUE}", re.I | re.ASCII)
_PROSE_WORD = re.compile(r"[a-z]+")


def _named_values(text: str) -> Iterator[Span]:
    for word in _NAME_END.finditer(text):
        start, end = word.span()
        while start > 0 and text[start - 1] in _KEY_CHARS:
            start -= 1
        before = text[start - 1] if start else ""
        value: re.Match[str] | None
        group = 1
        if before in "\"'" and before and text.startswith(before, end):     # "name": "value"
            value = _AFTER_QUOTED_KEY.match(text, end + 1)
            if value is not None:
                group = 2 if value.group(1) else 3
        elif before == "\"" and text[start - 2:start] == '\\"' and text.startswith('\\"', end):
            value, group = _AFTER_ESCAPED_KEY.match(text, end + 2), 1      # \"name\": \"value\"
        elif (value := _AFTER_EQUALS.match(text, end)) is None:             # name: value
            name = text[start:end]
            if not _COLON_NAME.fullmatch(name) or text.endswith("//", 0, start):
                continue                              # weak names; a URL's user (url-password)
            value = _AFTER_COLON.match(text, end)
            if value is not None and _PROSE_WORD.fullmatch(value.group(1)) and not \
                    _PASSWORD_NAME.search(name):
                continue                              # "invalid token: expired"
        if value is None or not value.group(group) or _PLACEHOLDER.fullmatch(value.group(group)):
            continue
        yield _unquoted(value, group)


# -- headers ---------------------------------------------------------------------------
_AUTHORIZATION = _compile(
    r"(?i)\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?"
    rf"(?:(?:{_SCHEMES}|aws4-hmac-sha256|[\w-]+)[ \t]+)?(?!\*\*\*)([^\s\"',;]+)"
    r"((?:,\s*\w+=[^\s\"',]+)*)")
_BEARER = re.compile(r"(?i)\bbearer\s+(?!\*\*\*)([A-Za-z0-9\-._~+/]{8,}=*)")
# ``Cookie: a=1; b=2`` / ``Set-Cookie: s=1; Path=/; HttpOnly``: the list ends where a
# pair is not followed by ``;``.
_COOKIE = _compile(r"(?i)\b(?:set-)?cookie[\"']?[ \t]*[:=][ \t]*[\"']?"
                   r"([^=;\s\"']+=[^;\s\"']*"
                   r"(?:;[ \t]*(?:[^=;\s\"']+=[^;\s\"']*|httponly\b|secure\b|partitioned\b))*)")
_COOKIE_PAIR = re.compile(r"(?:^|;)[ \t]*([^=;\s]+)=([^;\s]*)")
_COOKIE_ATTRIBUTES = frozenset({"path", "domain", "expires", "max-age", "samesite", "secure",
                                "httponly", "priority", "partitioned", "version", "comment"})


def _authorization(text: str) -> Iterator[Span]:
    for match in _AUTHORIZATION.finditer(text):
        yield match.span(1)
        if match.group(2):                             # AWS SigV4: Credential=…, Signature=…
            yield match.span(2)


def _cookies(text: str) -> Iterator[Span]:
    for header in _COOKIE.finditer(text):
        base = header.start(1)
        for pair in _COOKIE_PAIR.finditer(header.group(1)):
            if pair.group(2) and pair.group(1).lower() not in _COOKIE_ATTRIBUTES:
                yield base + pair.start(2), base + pair.end(2)


# -- URLs --------------------------------------------------------------------------------
_URL_PASSWORD = re.compile(
    r"(?i)\b[a-z][a-z0-9+.-]{1,20}:(?:\\?/){2}[^\s:/@\"'<>]*:([^\s@/\"'<>]+)@")
_URL_TOKEN_USER = re.compile(
    r"(?i)\b[a-z][a-z0-9+.-]{1,20}:(?:\\?/){2}(?=[\w~.-]*\d)([\w~.-]{20,})@")

# -- command lines -----------------------------------------------------------------------
_FLAG = re.compile(
    r"(?i)(?<![\w-])--?(?:[\w-]*-)?(?:password|passwd|pass|pwd|secret|token|api-?key|"
    rf"access-key|secret-key|client-secret)(?:[ \t]+|=)(?!-){_VALUE}")
_USER_PASSWORD = re.compile(
    rf"(?<![\w-])(?:-u|--user)(?:[ \t]+|=)[\"']?[^\s:\"'@/]+:{_VALUE}")
_SSHPASS = re.compile(rf"(?i)\bsshpass\b(?:[ \t]+-[a-oq-z]\S*)*[ \t]+-p[ \t]*{_VALUE}")
# (bounded gaps: a search from each "mysql" of a long line must not scan the rest of it)
_MYSQL_P = re.compile(rf"(?i)\bmysql\w*\b[^\n]{{0,500}}?[ \t]-p(?![ \t\n]){_VALUE}")
_REDIS_A = re.compile(rf"(?i)\bredis-cli\b[^\n]{{0,500}}?[ \t]-a[ \t]+{_VALUE}")
_SQL_PASSWORD = re.compile(
    r"(?i)\b(?:(?:create|alter)[ \t]+(?:user|role)\b[^\n]{0,500}?\b(?:identified[ \t]+by|password)"
    r"|set[ \t]+password\b[^\n]{0,500}?=)[ \t]*'((?:[^'\\\n]|\\.)*)'")

# -- private keys ------------------------------------------------------------------------
_PEM_BEGIN = re.compile(r"(?i)-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"(?i)-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----")
_PEM_LIMIT = 64 * 1024
# A key cut short (no END line): the base64 that follows, line by line, whatever
# separates the lines (newlines, literal "\n", spaces) and the old-style headers.
# A short word followed by ":" or "(" ends it, so the error after the key stays.
_PEM_BODY = re.compile(
    r"(?:(?:[ \t]|\r?\n|\\r\\n|\\n|\\r)*"
    r"(?:(?:Proc-Type|DEK-Info|Comment):[^\n\\]*"
    r"|(?=[A-Za-z]*[0-9+/])[A-Za-z0-9+/]{16,}={0,2}"
    r"|[A-Za-z0-9+/]{1,15}(?:={1,2}|(?=[ \t]*(?:\r?\n|\\[rn]|\"(?=[\s,}\]:]|$)|$)))))+")
# DER keys in base64 without their armour (a PEM body cut from its header), and the
# body of an OpenSSH key ("openssh-key-v1").
_DER = r"(?<![A-Za-z0-9+/])(?:MII[A-Za-z0-9+/]{60,}|b3BlbnNzaC1rZXktdjE[A-Za-z0-9+/]{40,})={0,2}"


def _private_keys(text: str) -> Iterator[Span]:
    position = 0
    end_line: re.Match[str] | None = None
    while (begin := _PEM_BEGIN.search(text, position)) is not None:
        start = begin.end()
        if end_line is None or end_line.start() < start:     # each END is looked for once
            end_line = _PEM_END.search(text, start)
        if end_line is not None and end_line.start() - start <= _PEM_LIMIT:
            yield start, end_line.start()
            position = end_line.end()
            continue
        body = _PEM_BODY.match(text, start)
        stop = body.end() if body is not None else start
        if stop > start:
            yield start, stop
        position = max(stop, start)


# -- cards -------------------------------------------------------------------------------
_CARD = re.compile(r"(?<![\w./:#-])(?:\d[ -]?){12,18}\d(?![\w.])")
# Issuer prefixes and lengths (Visa, Mastercard, Amex, Discover, Diners, JCB, UnionPay,
# Maestro): a long id or timestamp that passes the Luhn check by chance (one in ten)
# rarely starts like a card.
_ISSUER = re.compile(r"4\d{12}(?:\d{3}){0,2}|(?:5[0-8]|6\d)\d{10,17}|3[0-9]\d{11,17}"
                     r"|2(?:22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)\d{12}")


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


# A number labelled as an id (``request_id=…``, ``"trace_id": "…"``) is not a card.
_ID_LABEL = re.compile(r"(?i)id[\"']?[ \t]*[:=][ \t]*[\"']?\Z")


def _cards(text: str) -> Iterator[Span]:
    for match in _CARD.finditer(text):
        digits = "".join(c for c in match.group(0) if c.isdigit())
        if _ISSUER.fullmatch(digits) and _luhn(digits) and len(set(digits)) > 1 and \
                _ID_LABEL.search(text, max(0, match.start() - 16), match.start()) is None:
            # keep the last four digits: "***1111" still tells which card
            kept, end = 0, match.end()
            while kept < 4:
                end -= 1
                kept += text[end].isdigit()
            yield match.start(), end


LOCAL_RULES: tuple[LocalRule, ...] = (
    LocalRule("private-key-block", ("-----begin",), _private_keys),
    LocalRule("private-key-der", ("mii", "b3blbnnzac1rzxktdje"), _groups(_DER)),
    LocalRule("named-value", ("pass", "pwd", "secret", "token", "key", "auth", "cred",
                              "cookie", "dsn", "sig", "sess"), _named_values),
    LocalRule("authorization-header", ("authorization",), _authorization),
    LocalRule("bearer", ("bearer",), _groups(_BEARER.pattern, 1)),
    LocalRule("cookie-header", ("cookie",), _cookies),
    LocalRule("json-web-token", ("eyj",), _groups(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\."
                                       r"[A-Za-z0-9_-]*")),
    LocalRule("url-password", (":/", ":\\/"), _groups(_URL_PASSWORD.pattern, 1, values=True)),
    LocalRule("url-token-user", (":/", ":\\/"), _groups(_URL_TOKEN_USER.pattern, 1)),
    LocalRule("cli-flag", ("pass", "pwd", "secret", "token", "key"),
              _groups(_FLAG.pattern, 1, values=True)),
    LocalRule("cli-user-password", ("-u", "--user"),
              _groups(_USER_PASSWORD.pattern, 1, values=True)),
    LocalRule("sshpass", ("sshpass",), _groups(_SSHPASS.pattern, 1, values=True)),
    LocalRule("mysql-p", ("mysql",), _groups(_MYSQL_P.pattern, 1, values=True)),
    LocalRule("redis-cli-a", ("redis-cli",), _groups(_REDIS_A.pattern, 1, values=True)),
    LocalRule("sql-password", ("identified", "password"),
              _groups(_SQL_PASSWORD.pattern, 1, values=True)),
    LocalRule("card", (), _cards, triggers=(r"\d\d\d\d[ -]?\d\d\d\d[ -]?\d\d\d\d",)),
    # provider tokens
    LocalRule("aws-access-key-id", ("akia", "asia", "agpa", "aida", "aroa", "anpa", "anva",
                                    "aipa"),
              _groups(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b")),
    LocalRule("slack-token", ("xox",), _groups(r"\bxox[abposre]-[A-Za-z0-9-]{10,}")),
    LocalRule("slack-webhook", ("hooks.slack.com",),
              _groups(r"\bhooks\.slack\.com/(?:services|workflows|triggers)/([A-Za-z0-9/+]+)", 1)),
    LocalRule("github-token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
              _groups(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})")),
    LocalRule("stripe-key", ("_live_", "_test_", "whsec_"),
              _groups(r"\b(?:(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9]{10,})")),
    LocalRule("google-api-key", ("aiza",), _groups(r"\bAIza[0-9A-Za-z_-]{35}")),
    LocalRule("google-oauth", ("gocspx-", "ya29.", "1//0"),
              _groups(r"\b(?:GOCSPX-[A-Za-z0-9_-]{20,}|ya29\.[A-Za-z0-9_-]{20,})"
                      r"|(?<![\w/])1//0[A-Za-z0-9_-]{30,}")),
    LocalRule("gitlab-token", ("glpat-",), _groups(r"\bglpat-[A-Za-z0-9_.-]{20,}")),
    LocalRule("openai-anthropic-key", ("sk-",), _groups(r"(?<![\w-])sk-[A-Za-z0-9_-]{32,}")),
    LocalRule("telegram-bot-token", (":aa",),
              _groups(r"(?<!\d)\d{5,16}:AA[A-Za-z0-9_-]{33}(?![A-Za-z0-9_-])")),
    LocalRule("discord-bot-token", (), _groups(
        r"(?<![\w-])[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}(?![\w-])"),
        triggers=(r"[MNO][A-Za-z0-9_\-]{23,27}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27}",)),
    LocalRule("discord-webhook", ("webhooks/",), _groups(
        r"(?i)\bdiscord(?:app)?\.com/api/(?:v\d+/)?webhooks/\d{15,20}/([A-Za-z0-9_-]{40,})", 1)),
    LocalRule("meta-access-token", ("eaa",), _groups(r"\bEAA[A-Za-z0-9]{30,}")),
    LocalRule("mailgun-key", ("key-",), _groups(r"\b(?:pub)?key-[0-9a-f]{32}\b")),
    LocalRule("vault-token", ("hvs.", "hvb.", "hvr."), _groups(r"\bhv[sbr]\.[A-Za-z0-9_-]{24,}")),
)

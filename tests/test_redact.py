"""Secrets never leave: every kind the issue names is masked, prose is left alone."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import time

import pytest

from detector.build import load_patterns
from detector.config import load_config
from detector.redact import redact, redact_event, redact_value
from detector.redact._gitleaks import GITLEAKS_TOML, RUNAWAY_BUDGET, load
from detector.redact._translate import Untranslatable, guarded, translate


@pytest.mark.parametrize(("text", "secret"), [
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl", "eyJ"),
    ("curl -H 'Authorization: Bearer abcdef1234567890'", "abcdef1234567890"),
    ("got token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl from cache", "eyJ"),
    ("login failed password=hunter2 user=bob", "hunter2"),
    ("config {'password': 'hunter2', 'user': 'bob'}", "hunter2"),
    ('{"api_key": "k-12345", "user": "bob"}', "k-12345"),
    ("GET /v1/x?api_key=k-12345&page=2", "k-12345"),
    ("secret=s3cr3t token=t0k3n", "s3cr3t"),
    ("secret=s3cr3t token=t0k3n", "t0k3n"),
    ("DATABASE_URL=postgres://app:pa55word@db:5432/orders", "pa55word"),
    ("mongodb+srv://admin:pa55word@crypteras.mongodb.net/x", "pa55word"),
    ("aws key AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
    ("charged card 4111 1111 1111 1111 ok", "4111 1111 1111 1111"),
    ("charged card 4111111111111111 ok", "4111111111111111"),
    ("slack https://hooks.slack.com/services/T000/B000/XXXXXXXX", "T000/B000"),
    ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("X-MBX-APIKEY: vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwC", "vmPUZE6mv9"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "MIIEow"),
])
def test_secrets_are_masked(text: str, secret: str) -> None:
    masked = redact(text)
    assert secret not in masked
    assert "***" in masked


@pytest.mark.parametrize("text", [
    "LockError: Unable to acquire lock on lock:smart_bot:123abc after 10 seconds",
    "Token expires in 300s",
    "Basic configuration loaded",
    "order 1234567890123 shipped",          # not a Luhn number
    "2026-11-20 10:00:00,123 ERROR [auth-service] credentials: bad auth : authentication failed",
    "Error connecting to PostgreSQL at postgres:5432",
])
def test_prose_and_ids_are_left_alone(text: str) -> None:
    assert redact(text) == text


def test_values_of_secret_named_keys_are_masked_in_structures() -> None:
    value = {"routing_key": "R0ut1ng", "nested": [{"token": "abc", "note": "password=p"}],
             "count": 3}
    assert redact_value(value) == {"routing_key": "***", "nested": [
        {"token": "***", "note": "password=***"}], "count": 3}


@pytest.mark.parametrize(("text", "secret"), [
    ("redis://:s3cr3t-Pa55@cache:6379/0", "s3cr3t-Pa55"),
    ("PGPASSWORD=Xy9_pass_42 psql -h db -U app", "Xy9_pass_42"),
    ("mysqldump --password Xy9_pass_42 shop", "Xy9_pass_42"),
    ("sshpass -p 'Xy9!pass42' ssh deploy@10.0.3.7", "Xy9!pass42"),
    ("mysql -u root -pXy9pass42 shop", "Xy9pass42"),
    ("redis-cli -h cache -a Xy9pass42 ping", "Xy9pass42"),
    ("Cookie: theme=dark; sessionid=k2j3h4g5f6d7s8a9", "k2j3h4g5f6d7s8a9"),
    ("sessionid=k2j3h4g5f6d7s8a9", "k2j3h4g5f6d7s8a9"),
    ('{"msg": "retry with \\"password\\": \\"hunter2x\\""}', "hunter2x"),
    ("load_pem_private_key(data, password=b'p4ss-w0rd!')", "p4ss-w0rd!"),
    ("AccountName=prod;AccountKey=bXlrZXk0Mg+/ab==;EndpointSuffix=core.windows.net", "bXlrZXk0Mg"),
    ("https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0/getMe",
     "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"),
    ("Authorization: AWS4-HMAC-SHA256 Credential=AKIAZ7Q2RV4NXYW3LPQT/20261120/s3, "
     "SignedHeaders=host, Signature=9f86d081884c7d659a2feaa0c55ad015", "9f86d081884c7d65"),
    ("ALTER USER app WITH PASSWORD 'Xy9pass42'", "Xy9pass42"),
    ("-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n-----END PRIVATE KEY-----",
     "MIIEvQIBADANBgkq"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6\n",
     "MIIEowIBAAKCAQEA"),
])
def test_secrets_by_name_and_place_are_masked(text: str, secret: str) -> None:
    masked = redact(text)
    assert secret not in masked
    assert "***" in masked


@pytest.mark.parametrize("text", [
    "MySQLdb.OperationalError: (1045, \"Access denied for user 'root'@'localhost' (using password: NO)\")",
    "alembic.util.exc.CommandError: Can't locate revision identified by '4f2e9a1b7c3d'",
    "Unclosed client session client_session: <aiohttp.client.ClientSession object at 0x7f3a9c2e1b70>",
    '{"level":"info","msg":"Lock released lock:smart_bot:b59f73","request_id":"4909713308969528"}',
    "consumer: Cannot connect to amqp://guest:**@rabbitmq:5672//: [Errno 111] Connection refused.",
    "invalid token: signature verification failed",
    "DB_PASSWORD=${DB_PASSWORD} docker compose up",
    "GET /api/webhooks/4038939208823090189 200",
])
def test_look_alikes_are_left_alone(text: str) -> None:
    assert redact(text) == text


def test_names_stay_and_each_secret_is_one_mask() -> None:
    assert redact("password=hunter2 token=t0k3n-abc") == "password=*** token=***"
    assert redact('{"password": "a", "api_key": 12345}') == '{"password": "***", "api_key": "***"}'.replace(
        '"***"}', "***}")
    assert redact("card 4111-1111-1111-1111 ok") == "card ***1111 ok"
    assert redact("") == ""


def test_redact_event_is_redact_for_whole_events() -> None:
    event = "Traceback (most recent call last):\n  ...\nKeyError: password=hunter2\n"
    assert redact_event(event) == redact(event) == event.replace("hunter2", "***")


def test_structured_values_keep_ids_that_are_not_secrets() -> None:
    value = {"dedup_key": "lock:smart_bot:1", "idempotency_key": "k1", "sessionid": "abc",
             "AccountKey": "a2V5", "client_session": "<ClientSession>"}
    assert redact_value(value) == {"dedup_key": "lock:smart_bot:1", "idempotency_key": "k1",
                                   "sessionid": "***", "AccountKey": "***",
                                   "client_session": "<ClientSession>"}


# -- the vendored gitleaks rules -----------------------------------------------------------

def test_the_vendored_gitleaks_file_is_the_one_the_notice_names() -> None:
    notice = (GITLEAKS_TOML.parent / "NOTICE").read_text()
    digest = hashlib.sha256(GITLEAKS_TOML.read_bytes()).hexdigest()
    assert f"sha256:   {digest}" in notice
    assert "MIT License" in notice and "Copyright (c) 2019 Zachary Rice" in notice


def test_gitleaks_rules_all_translate() -> None:
    """Every gitleaks rule is used, or listed here with why: none is dropped silently."""
    rules, skipped = load()
    untranslatable = [s for s in skipped if s.reason.startswith("cannot translate")]
    assert untranslatable == []
    assert {s.id: s.reason.split(" ")[0] for s in skipped} == {
        "freemius-secret-key": "scoped", "hashicorp-tf-password": "scoped",
        "kubernetes-secret-yaml": "scoped", "nuget-config-password": "scoped",
        "pkcs12-file": "no", "private-key": "superseded"}
    assert len(rules) + len(skipped) == 209
    assert all(rule.keywords for rule in rules)             # every rule has a prefilter


def test_gitleaks_rules_mask_the_secret_not_the_name() -> None:
    masked = redact("discord_client_secret = 'Jk8sT0pQ2x9vLm4nB7cZ1aW5eR3yU6iO' and more")
    assert masked == "discord_client_secret = '***' and more"
    rules, _ = load()
    generic = next(r for r in rules if r.id == "generic-api-key")
    assert list(generic.spans("color_key=aaaaaaaaaaaa")) == []          # gitleaks' allowlist
    assert list(generic.spans("build_token=abcdefghijkl")) == []        # no digit, low entropy


@pytest.mark.parametrize(("go", "python"), [
    (r"\b(p8e-(?i)[a-z0-9]{32})", r"\b(p8e-(?i:[a-z0-9]{32}))"),
    (r"(?i)^true|false|null$", r"(?i:^true)|(?i:false)|(?i:null$)"),     # flags reach later branches
    (r"(?:\"(?i)a\"|'b')", r"(?:\"(?i:a\")|(?i:'b'))"),
    (r"a(?-i:B)c\z", r"a(?-i:B)c\Z"),
    (r"(?<name>x)[[a]", r"(?P<name>x)[\[a]"),
    (r"[\w&&x--y]", r"[\w\&\&x\-\-y]"),
])
def test_go_syntax_is_translated_with_its_meaning(go: str, python: str) -> None:
    assert translate(go) == python
    re.compile(python)


@pytest.mark.parametrize("go", [r"(?U)a+", r"\pL", r"[[:alpha:]]", r"(a", r"a)"])
def test_what_python_cannot_say_is_untranslatable(go: str) -> None:
    with pytest.raises(Untranslatable):
        translate(go)


def test_flags_in_a_branch_apply_as_in_go() -> None:
    pattern = re.compile(translate(r"x(?:a(?i)b|c)"))
    assert pattern.fullmatch("xaB") and pattern.fullmatch("xC") and not pattern.fullmatch("xA")


@pytest.mark.parametrize("pattern", [
    r"(?i:(?:access|auth|key)[ \t]*=)", r"(?i)\bsshpass\b -p", r"(?i)(?:x|y)?z", r"ghp_[0-9]{3}",
])
def test_the_first_character_guard_changes_no_match(pattern: str) -> None:
    plain, fast = re.compile(pattern, re.ASCII), re.compile(guarded(pattern, re.ASCII), re.ASCII)
    for text in ("ACCESS =1", "x auth= y", "SshPass -p", "zZ yz", "ghp_123", "Key\t=", "no"):
        assert [m.span() for m in plain.finditer(text)] == [m.span() for m in fast.finditer(text)]


def test_importing_redaction_does_not_load_the_rules() -> None:
    code = ("import sys, detector.redact, detector.telemetry.logs; "
            "print('hyperscan' in sys.modules, detector.redact._rules is None)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_pattern_pack_examples_survive_redaction() -> None:
    """Redacting a whole event before capture must not change what the packs see."""
    patterns = load_patterns(load_config(None))
    changed = [(p.id, line) for p in patterns
               for line in (*p.examples_match, *p.examples_no_match) if redact(line) != line]
    assert changed == []


@pytest.mark.parametrize("text", [
    "password=abc " * 10000, "mysql " * 10000 + " -p", "redis-cli " * 10000,
    "-----BEGIN RSA PRIVATE KEY-----" * 3000, "Authorization: " * 10000,
    "cookie: a=b; " * 10000, "https://a:b@" * 10000, "token=" + "a" * 100000,
])
def test_hostile_text_takes_bounded_time(text: str) -> None:
    started = time.perf_counter()
    redact(text)
    assert time.perf_counter() - started < 2.0


def test_a_rule_that_runs_away_masks_from_where_it_could_start() -> None:
    """gitleaks' curl rules backtrack without bound in Python: they get a time budget."""
    text = "ValueError: upload failed " + "curl -H x " * 20000
    started = time.perf_counter()
    assert redact(text) == "ValueError: upload failed ***"
    assert time.perf_counter() - started < 5 * RUNAWAY_BUDGET + 1.0


@pytest.mark.parametrize("around", ["(client {})", "[{}]", "token {}, retrying", "<{}>",
                                    "?key={}&page=2", "{}|next"])
def test_a_token_followed_by_log_punctuation_is_still_masked(around: str) -> None:
    token = "dop_v1_e844bdbc9345c1ad9bf882b6ae90ddfc3eee1d6a489b674746e0dfaf1002ae24"
    assert redact("ERROR upstream rejected " + around.format(token)) == (
        "ERROR upstream rejected " + around.format("***"))

"""Secrets never leave: every kind the issue names is masked, prose is left alone."""

from __future__ import annotations

import pytest

from detector.redact import redact, redact_value


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

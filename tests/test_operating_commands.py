"""The operating commands as a user runs them: notify test against real receivers, outbox
retry --pending, patterns list with an unknown class, incidents on an empty state directory,
and a user's [[runbook]] carried into every notifier's payload."""

from __future__ import annotations

import json
import time
from pathlib import Path

from conftest import run_cli
from receivers import Answer, Receiver

from detector.config import load_config
from detector.incidents import Occurrence
from detector.model import Kind, Severity
from detector.notify import build_notifiers
from detector.notify.outbox import Outbox
from detector.runbooks import Runbooks


def config_with(tmp: Path, *hooks: tuple[str, str, str]) -> Path:
    config = tmp / "detector.toml"
    text = f'[state]\ndir = "{tmp / "state"}"\n'
    for kind, name, url in hooks:
        extra = 'routing_key = "rk"\n' if kind == "pagerduty" else ""
        text += (f'[[notify]]\ntype = "{kind}"\nname = "{name}"\nurl = "{url}"\n'
                 f'min_severity = "critical"\n{extra}')
    config.write_text(text)
    return config


def test_notify_test_sends_a_marked_sample_through_each_notifier_and_says_what_they_answered(
        tmp_path: Path) -> None:
    with Receiver() as good, Receiver(default=Answer(503, b"down for maintenance")) as bad, \
            Receiver(default=Answer(202, b"{}")) as pager:
        config = config_with(tmp_path, ("webhook", "ops", f"{good.url}/hook"),
                             ("pagerduty", "pager", f"{pager.url}/enqueue"),
                             ("webhook", "broken", f"{bad.url}/hook"))
        result = run_cli("notify", "test", "-c", str(config))
        assert result.code == 1, result.err                 # one destination did not accept
        lines = result.out.splitlines()
        assert lines[0].split()[:4] == ["ops", "webhook", "accepted", "HTTP"]
        assert lines[1].split()[:3] == ["pager", "pagerduty", "accepted"]
        assert lines[2].split()[:5] == ["broken", "webhook", "FAILED", "HTTP", "503"]
        assert "down for maintenance" in lines[2]
        assert lines[-1] == "2 destinations accepted the test, 1 did not"
        sample = good.requests[0].json()                    # routing (critical only) is skipped
        assert sample["summary"].startswith("TEST:") and sample["class"] == "detector_test"
        assert good.requests[0].headers["x-detector-event-id"].endswith("-test")
        assert pager.requests[0].json()["payload"]["summary"].startswith("[detector] TEST:")
        with Outbox.in_state_dir(tmp_path / "state") as outbox:
            assert outbox.items() == []                     # no pending item, no dead letter

        only = run_cli("notify", "test", "-c", str(config), "--to", "ops")
        assert only.code == 0 and only.out.startswith("ops ")
        assert len(good.requests) == 2 and len(bad.requests) == 1
        unknown = run_cli("notify", "test", "-c", str(config), "--to", "nope")
        assert unknown.code == 2
        assert "no notifier named 'nope'" in unknown.err and "ops, pager, broken" in unknown.err
    none = tmp_path / "none.toml"
    none.write_text("")
    assert "no [[notify]] is configured" in run_cli("notify", "test", "-c", str(none)).err


def test_outbox_retry_pending_makes_waiting_items_due_now(tmp_path: Path) -> None:
    config = config_with(tmp_path, ("webhook", "ops", "http://127.0.0.1:9/hook"))
    with Outbox.in_state_dir(tmp_path / "state") as outbox:
        outbox.add("ops", "k1", {"event": "open"}, now=time.time())  # type: ignore[typeddict-item]
        (item,) = outbox.items()
        outbox.retry_later(item.id, time.time() + 3600, "HTTP 503")
    result = run_cli("outbox", "retry", "--pending", "-c", str(config))
    assert (result.code, result.out.split(" due")[0]) == (0, "1 pending item")
    with Outbox.in_state_dir(tmp_path / "state") as outbox:
        assert outbox.items()[0].next_attempt <= time.time()
    assert "or --pending" in run_cli("outbox", "retry", "-c", str(config)).err


def test_patterns_list_with_an_unknown_class_is_an_error_naming_the_classes() -> None:
    result = run_cli("patterns", "list", "--class", "nope")
    assert result.code == 2 and result.out == ""
    assert "no pattern has class 'nope'" in result.err and "lock_timeout" in result.err
    listing = run_cli("patterns", "list", "--class", "deadlock").out.splitlines()
    rows = [line for line in listing[1:] if line.strip() and " deadlock " in line]
    assert rows and listing[-1] == f"{len(rows)} patterns"


def test_history_commands_on_a_fresh_state_directory(tmp_path: Path) -> None:
    config = config_with(tmp_path)
    listed = run_cli("incidents", "list", "-c", str(config))
    assert listed.code == 0 and listed.out.startswith("No incidents recorded")
    shown = run_cli("incidents", "show", "abc", "-c", str(config))
    assert shown.code == 2 and "no incident history" in shown.err
    assert run_cli("silence", "list", "-c", str(config)).out == "No silences.\n"
    bad = run_cli("silence", "add", "--class", "x", "--for", "soon", "-c", str(config))
    assert bad.code == 2 and "--for must be a duration" in bad.err


def test_a_users_runbook_wins_and_its_link_reaches_every_notifier(tmp_path: Path) -> None:
    config = tmp_path / "detector.toml"
    config.write_text("""
[[runbook]]
class = "lock_timeout"
service = "worker-*"
url = "https://wiki.example/locks"

[[runbook]]
pattern = "custom.*"
title = "Our own"
steps = ["Call Ana."]

[[notify]]
type = "slack"
url = "https://hooks.example/x"
[[notify]]
type = "pagerduty"
routing_key = "rk"
[[notify]]
type = "alertmanager"
url = "http://am.example:9093"
[[notify]]
type = "webhook"
url = "https://hooks.example/y"
""")
    loaded = load_config(config)
    shipped = {"title": "Redis lock timeout", "steps": ["List the locks."]}
    runbooks = Runbooks([], None, loaded.runbooks)

    def occurrence(service: str, pattern: str) -> Occurrence:
        return Occurrence(kind=Kind.SIGNATURE, cls="lock_timeout", service=service, key={},
                          severity=Severity.ERROR, summary="s", sample="x", when=0.0,
                          pattern=pattern, runbook=shipped)  # type: ignore[arg-type]

    book = runbooks.choose(occurrence("worker-sync", "redis.lock_error"))
    assert book == {**shipped, "url": "https://wiki.example/locks"}
    assert runbooks.choose(occurrence("api", "redis.lock_error")) == shipped
    assert runbooks.choose(occurrence("api", "custom.thing")) == {"title": "Our own",
                                                                  "steps": ["Call Ana."]}
    event = {"event": "open", "id": "i", "kind": "signature", "class": "lock_timeout",
             "pattern": "redis.lock_error", "severity": "error", "service": "worker-sync",
             "fingerprint": "f", "first_seen": "2026-12-01T10:00:00Z",
             "last_seen": "2026-12-01T10:00:00Z", "count": 1, "summary": "s", "fields": {},
             "samples": ["x"], "runbook": book}
    bodies = {n.type: json.loads(n.request(event, key="k", now=0.0).body)  # type: ignore[arg-type]
              for n in build_notifiers(loaded.notify)}
    url = "https://wiki.example/locks"
    slack_buttons = [e for b in bodies["slack"]["blocks"] if b["type"] == "actions"
                     for e in b["elements"]]
    assert slack_buttons[0]["url"] == url
    assert bodies["pagerduty"]["links"] == [{"href": url, "text": "Runbook: Redis lock timeout"}]
    assert bodies["alertmanager"][0]["annotations"]["runbook_url"] == url
    assert bodies["webhook"]["runbook"]["url"] == url
    assert run_cli("validate", "-c", str(config)).code == 0

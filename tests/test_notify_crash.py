"""kill -9 in the middle of delivery loses nothing; a restart delivers the rest."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from conftest import ROOT, run_cli
from receivers import Answer, Receiver

from detector.match.packs import load_packs, shipped_packs_dir


def trouble_log(path: Path) -> None:
    """Fifteen different signatures, each alone for longer than resolve_after."""
    patterns = [p for p in load_packs([shipped_packs_dir()]) if "\n" not in p.examples_match[0]]
    lines = []
    for minute, pattern in zip(range(0, 15 * 15, 15), patterns[:15], strict=True):
        stamp = f"2026-11-20 {10 + minute // 60:02d}:{minute % 60:02d}:00,000"
        lines.append(f"{stamp} ERROR {pattern.examples_match[0]}")
    lines.append("2026-11-20 14:30:00,000 INFO the end")
    path.write_text("\n".join(lines) + "\n")


def test_kill_9_mid_delivery_then_restart_delivers_everything(tmp_path: Path) -> None:
    log = tmp_path / "api.log"
    trouble_log(log)
    expected = [json.loads(line) for line in
                run_cli("replay", str(log), "--output", "jsonl").out.splitlines()]
    expected_ids = {f"{e['id']}-{e['event']}-{e['count']}" for e in expected}
    assert len(expected_ids) == 30

    with Receiver(default=Answer(200, b"", delay=0.2)) as receiver:
        config = tmp_path / "detector.toml"
        config.write_text(f'[state]\ndir = "{tmp_path / "state"}"\n'
                          f'[[notify]]\ntype = "webhook"\nurl = "{receiver.url}/hook"\n'
                          f'secret = "s3cr3t"\nmin_severity = "info"\n')
        env = {**os.environ, "DETECTOR_CACHE_DIR": str(ROOT / ".pytest_cache" / "hs")}
        process = subprocess.Popen([sys.executable, "-m", "detector", "replay", str(log),
                                    "-c", str(config), "--notify", "--output", "jsonl"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        receiver.wait_for(8, timeout=60)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        assert process.returncode == -signal.SIGKILL
        before = len(receiver.requests)
        assert before < 30                                     # it really died mid-way

        restarted = run_cli("replay", os.devnull, "-c", str(config), "--notify")
        assert restarted.code == 0, restarted.err
        assert "0 pending" in restarted.err
        received = [r.headers["x-detector-event-id"] for r in receiver.requests]

    assert set(received) == expected_ids                       # nothing lost
    duplicates = [k for k, n in Counter(received).items() if n > 1]
    assert len(duplicates) <= 1                                 # at most the one in flight
    for request in receiver.requests:                           # every body signed and intact
        stamp = request.headers["x-detector-timestamp"]
        digest = hmac.new(b"s3cr3t", stamp.encode() + b"." + request.body, hashlib.sha256)
        assert request.headers["x-detector-signature"] == "sha256=" + digest.hexdigest()


def test_outbox_commands_list_retry_and_purge_dead_letters(tmp_path: Path) -> None:
    log = tmp_path / "api.log"
    log.write_text("2026-11-20 10:00:00,000 ERROR MemoryError\n")
    with Receiver(default=Answer(410, b"gone")) as receiver:
        config = tmp_path / "detector.toml"
        config.write_text(f'[state]\ndir = "{tmp_path / "state"}"\n'
                          f'[[notify]]\ntype = "webhook"\nname = "ops"\n'
                          f'url = "{receiver.url}/hook"\n')
        sent = run_cli("replay", str(log), "-c", str(config), "--notify")
        assert sent.code == 0
        assert "0 delivered, 1 dead letters, 0 pending" in sent.err
        listing = run_cli("outbox", "list", "-c", str(config))
        assert "dead" in listing.out and "ops" in listing.out and "answered: gone" in listing.out
        item_id = listing.out.splitlines()[1].split()[0]
        receiver.default = Answer(200, b"")
        assert "1 dead letter back" in run_cli("outbox", "retry", item_id, "-c", str(config)).out
        drained = run_cli("replay", os.devnull, "-c", str(config), "--notify")
        assert "1 delivered, 0 dead letters, 0 pending" in drained.err
        assert run_cli("outbox", "list", "-c", str(config)).out.startswith("The outbox is empty")
        assert run_cli("outbox", "purge", "-c", str(config)).code == 2   # ids or --all


def test_replay_notify_without_notifiers_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("replay", os.devnull, "--notify")
    assert result.code == 2
    assert "--notify needs at least one [[notify]]" in result.err

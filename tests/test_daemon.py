"""The daemon as it runs in production: a real process, real files, real receivers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from components import free_port
from conftest import ROOT
from receivers import Receiver

LOCK = ("{stamp} ERROR [worker-sync] redis.exceptions.LockError: Unable to acquire lock on "
        "lock:job:{n} after 10 seconds\n")


def stamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)) + f",{int(now % 1 * 1000):03d}"


class Daemon:
    def __init__(self, tmp: Path, webhook: str, extra: str = "", env: dict[str, str] | None = None,
                 pattern: str = "*.log", max_silence: str | None = None,
                 source: str | None = None) -> None:
        self.tmp = tmp
        self.logs = tmp / "logs"
        self.logs.mkdir(exist_ok=True)
        self.port = free_port()
        self.config = tmp / "detector.toml"
        silence = f'max_silence = "{max_silence}"\n' if max_silence else ""
        source = source or (f'[[source]]\ntype = "file"\nname = "app-logs"\n'
                            f'path = "{self.logs / pattern}"\nstart_at = "beginning"\n'
                            f'poll_interval = "50ms"\n{silence}')
        self.config.write_text(f"""
[state]
dir = "{tmp / 'state'}"
[http]
listen = "127.0.0.1:{self.port}"
[detect]
rates = false
{source}
[[notify]]
type = "webhook"
name = "hook"
url = "{webhook}"
min_severity = "info"
{extra}
""")
        self.env = {**os.environ, "DETECTOR_CACHE_DIR": str(ROOT / ".pytest_cache" / "hs"),
                    **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.log_file = tmp / "daemon.log"
        self.wrapper: list[str] = []        # a command the daemon runs under (capsh…)

    def start(self) -> Daemon:
        with self.log_file.open("ab") as out:
            command = [sys.executable, "-m", "detector", "run", "-c", str(self.config)]
            if self.wrapper:
                command = [*self.wrapper, " ".join(command)]
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                            env=self.env)
        deadline = time.time() + 30
        while time.time() < deadline:
            assert self.process.poll() is None, self.log_file.read_text()
            try:
                httpx.get(self.url("/healthz"), timeout=0.5)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("the daemon did not start: " + self.log_file.read_text())

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def signal(self, number: int) -> None:
        assert self.process is not None
        self.process.send_signal(number)

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(40)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def logged(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.log_file.read_text().splitlines()
                if line.startswith("{")]


@contextmanager
def daemon(tmp: Path, webhook: str, **options: object) -> Iterator[Daemon]:
    running = Daemon(tmp, webhook, **options)  # type: ignore[arg-type]
    try:
        yield running
    finally:
        if running.process is not None and running.process.poll() is None:
            running.process.kill()
            running.process.wait(10)


def opened(receiver: Receiver) -> list[dict[str, object]]:
    return [r.json() for r in receiver.requests if r.json()["event"] == "open"]


def test_an_appended_line_becomes_a_delivered_incident(tmp_path: Path) -> None:
    with Receiver() as hook, daemon(tmp_path, f"{hook.url}/hook") as running:
        log = running.logs / "worker-sync.log"
        log.write_text("")
        running.start()
        with log.open("a") as out:
            out.write(LOCK.format(stamp=stamp(), n=1))
        (request,) = hook.wait_for(1)
        event = request.json()
        assert (event["event"], event["class"], event["service"]) == (
            "open", "lock_timeout", "worker-sync")
        assert request.headers["x-detector-event-id"] == f"{event['id']}-open-1"

        health = httpx.get(running.url("/healthz"))
        assert health.status_code == 200 and health.json()["status"] == "ok"
        incidents = httpx.get(running.url("/incidents")).json()
        assert [i["class"] for i in incidents] == ["lock_timeout"]
        metrics = httpx.get(running.url("/metrics")).text
        for series in ['detector_source_lines_total{source="app-logs"} 1',
                       'detector_matches_total{class="lock_timeout"} 1',
                       'detector_notifications_sent_total{destination="hook"} 1',
                       'detector_outbox_depth{destination="hook",state="pending"} 0',
                       "detector_queue_batches 0"]:
            assert series in metrics, series
        assert httpx.get(running.url("/nope")).status_code == 404
        asked = subprocess.run([sys.executable, "-m", "detector", "health", "-c",
                                str(running.config)], capture_output=True, text=True,
                               env=running.env, check=False)
        assert (asked.returncode, asked.stdout) == (0, "ok: 1 source healthy\n")

        assert running.stop() == 0
        names = [e["event"] for e in running.logged()]
        assert names[0] == "detector.started" and names[-1] == "detector.stopped"
        checkpoints = json.loads((tmp_path / "state" / "checkpoints.json").read_text())
        assert checkpoints["version"] == 1
        assert checkpoints["sources"]["app-logs"]["files"][0]["offset"] == log.stat().st_size


def test_sighup_reloads_packs_and_notifiers_and_keeps_incidents(tmp_path: Path) -> None:
    with Receiver() as first, Receiver() as second, \
            daemon(tmp_path, f"{first.url}/hook") as running:
        log = running.logs / "api.log"
        log.write_text("")
        running.start()
        with log.open("a") as out:
            out.write(LOCK.format(stamp=stamp(), n=1))
        first.wait_for(1)
        pack = tmp_path / "widgets.toml"
        pack.write_text("""[[pattern]]
id = "acme.widget_jam"
class = "widget_jam"
severity = "error"
title = "Widget jammed"
regex = 'Widget (?P<widget>\\w+) jammed'
examples.match = ["Widget w1 jammed"]
[pattern.runbook]
title = "Unjam"
steps = ["Turn it off and on."]
""")
        running.config.write_text(running.config.read_text().replace(
            f'url = "{first.url}/hook"', f'url = "{second.url}/hook"')
            + f'\n[patterns]\npaths = ["{pack}"]\n')
        running.signal(signal.SIGHUP)
        deadline = time.time() + 90      # a reload compiles every pack again (slow when loaded)
        while not any(e["event"] == "reload.done" for e in running.logged()):
            assert time.time() < deadline, running.log_file.read_text()
            time.sleep(0.1)
        with log.open("a") as out:
            out.write(f"{stamp()} ERROR Widget w7 jammed\n")
        (event,) = [r.json() for r in second.wait_for(1)]
        assert event["class"] == "widget_jam"
        classes = {i["class"] for i in httpx.get(running.url("/incidents")).json()}
        assert classes == {"lock_timeout", "widget_jam"}          # state kept across reload
        assert running.stop() == 0


def test_a_bad_config_on_sighup_keeps_the_running_one(tmp_path: Path) -> None:
    with Receiver() as hook, daemon(tmp_path, f"{hook.url}/hook") as running:
        running.start()
        running.config.write_text(running.config.read_text() + "\nnonsense = 1\n")
        running.signal(signal.SIGHUP)
        deadline = time.time() + 20
        while not any(e["event"] == "reload.failed" for e in running.logged()):
            assert time.time() < deadline
            time.sleep(0.1)
        (failed,) = [e for e in running.logged() if e["event"] == "reload.failed"]
        assert str(failed["error"]).startswith(f"{running.config}:22: unknown key 'notify.nonsense'")
        assert httpx.get(running.url("/healthz")).status_code == 200
        assert running.stop() == 0


def test_systemd_notify_ready_status_watchdog_and_stopping(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(20)
        with Receiver() as hook, daemon(tmp_path, f"{hook.url}/hook",
                                        env={"NOTIFY_SOCKET": str(path),
                                             "WATCHDOG_USEC": "400000"}) as running:
            running.start()
            messages = []
            while not any("WATCHDOG=1" in m for m in messages):
                messages.append(sock.recv(4096).decode())
            assert messages[0].startswith("READY=1\nSTATUS=following 1 source with")
            running.signal(signal.SIGHUP)                   # the status line follows a reload
            while not messages[-1].startswith("STATUS="):
                messages.append(sock.recv(4096).decode())
            assert messages[-1].startswith("STATUS=following 1 source with")
            running.stop()
            while "STOPPING=1" not in messages[-1]:
                messages.append(sock.recv(4096).decode())


def test_a_silent_source_opens_source_down_and_recovery_resolves_it(tmp_path: Path) -> None:
    with Receiver() as hook, daemon(tmp_path, f"{hook.url}/hook", max_silence="1s") as running:
        log = running.logs / "api.log"
        log.write_text("")
        running.start()
        down = hook.wait_for(1, timeout=30)[0].json()
        assert (down["class"], down["service"], down["event"]) == (
            "source_down", "app-logs", "open")
        assert httpx.get(running.url("/healthz")).status_code == 503
        asked = subprocess.run([sys.executable, "-m", "detector", "health", "-c",
                                str(running.config)], capture_output=True, text=True,
                               env=running.env, check=False)
        assert asked.returncode == 1
        assert asked.stdout.startswith("unhealthy: source app-logs: no data for ")
        with log.open("a") as out:
            out.write(f"{stamp()} INFO alive again\n")
        deadline = time.time() + 20
        while not any(r.json()["event"] == "resolve" for r in hook.requests):
            assert time.time() < deadline
            time.sleep(0.1)
        running.stop()


@pytest.mark.slow
def test_kill_9_while_following_skips_no_line_and_loses_no_incident(tmp_path: Path) -> None:
    lines = 120
    with Receiver() as hook, daemon(tmp_path, f"{hook.url}/hook") as running:
        log = running.logs / "worker-sync.log"
        log.write_text("")
        running.start()
        with log.open("a") as out:
            for n in range(lines):
                out.write(LOCK.format(stamp=stamp(), n=n))
                out.flush()
                if n in (30, 75):
                    time.sleep(0.3)
                    running.kill()                      # in the middle of it all
                    running.start()
                time.sleep(0.005)
        deadline = time.time() + 60
        while len({e["fields"]["lock"] for e in opened(hook)}) < lines:
            assert time.time() < deadline, len(opened(hook))
            time.sleep(0.2)
        running.stop()
    locks = [e["fields"]["lock"] for e in opened(hook)]
    assert set(locks) == {f"lock:job:{n}" for n in range(lines)}
    ids = [r.headers["x-detector-event-id"] for r in hook.requests]
    for lock in set(locks):                              # a repeat is the same event again
        repeats = {r.headers["x-detector-event-id"] for r in hook.requests
                   if r.json()["fields"]["lock"] == lock and r.json()["event"] == "open"}
        assert len(repeats) == 1, (lock, repeats)
    assert len(ids) >= lines


def test_health_says_when_nothing_answers_and_when_there_is_no_endpoint(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "detector.toml"
    config.write_text(f'[http]\nlisten = "0.0.0.0:{port}"\n')
    asked = subprocess.run([sys.executable, "-m", "detector", "health", "-c", str(config)],
                           capture_output=True, text=True, check=False)
    assert asked.returncode == 1
    assert asked.stdout.startswith(f"unreachable: http://127.0.0.1:{port}/healthz: ")
    config.write_text('[http]\nlisten = ""\n')
    asked = subprocess.run([sys.executable, "-m", "detector", "health", "-c", str(config)],
                           capture_output=True, text=True, check=False)
    assert asked.returncode == 2
    assert asked.stderr == (f"detector: {config}: the HTTP endpoint is off ([http] listen = "
                            '""), so there is no /healthz to ask\n')

"""Operating the daemon, end to end (a real process, a real receiver): silences through the HTTP
API and the command line across restarts and kill -9, maintenance windows, the incident history,
access control, Prometheus exposition, and an endpoint that thousands of slow clients cannot use
to stall log processing or exhaust descriptors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from receivers import Receiver
from test_daemon import LOCK, Daemon, daemon, opened, stamp


def wait_until(check: Callable[[], object], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.time() + timeout
    while not check():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def cli(running: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "detector", *args, "-c", str(running.config)],
                          capture_output=True, text=True, env=running.env, check=False)


def write(log: Path, *lines: str) -> None:
    with log.open("a") as out:
        out.writelines(lines)


def incidents(running: Daemon, query: str = "") -> list[dict[str, object]]:
    answer = httpx.get(running.url(f"/incidents{query}"), timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_a_silence_via_http_holds_an_incident_across_a_restart_and_its_expiry_sends_it(
        tmp_path: Path) -> None:
    with Receiver() as hook, daemon(tmp_path, f"{hook.url}/hook") as running:
        log = running.logs / "worker-sync.log"
        log.write_text("")
        running.start()
        added = httpx.post(running.url("/api/silences"), timeout=5, json={
            "class": "lock_timeout", "service": "worker-*", "for": "1h",
            "comment": "deploying", "author": "ops"})
        assert added.status_code == 201, added.text
        silence = added.json()
        assert silence["state"] == "active" and silence["matchers"]["service"] == ["worker-*"]

        write(log, LOCK.format(stamp=stamp(), n=1))
        wait_until(lambda: incidents(running), what="the incident")
        (held,) = incidents(running)
        assert held["silenced"] == silence["id"]
        time.sleep(1.5)
        assert hook.requests == []                                # tracked, shown, not sent
        metrics = httpx.get(running.url("/metrics")).text
        assert 'detector_notifications_silenced_total{reason="silence"} 1.0' in metrics
        (recorded,) = incidents(running, "?state=all")
        assert (recorded["state"], recorded["silenced"]) == ("open", silence["id"])

        assert running.stop() == 0                                 # a restart in between
        running.start()
        assert [i["id"] for i in incidents(running)] == [held["id"]]
        listed = httpx.get(running.url("/api/silences")).json()
        assert [s["id"] for s in listed] == [silence["id"]]
        time.sleep(1.5)
        assert hook.requests == []

        expired = httpx.delete(running.url(f"/api/silences/{silence['id']}"), timeout=5)
        assert expired.status_code == 200 and expired.json()["state"] == "expired"
        (request,) = hook.wait_for(1)
        event = request.json()
        assert (event["event"], event["id"], event["class"]) == ("open", held["id"],
                                                                 "lock_timeout")
        assert running.stop() == 0
        shown = cli(running, "incidents", "show", held["id"][:8])
        assert shown.returncode == 0, shown.stderr
        assert "state:       open" in shown.stdout and "silenced:    no" in shown.stdout
        assert "lock:job:1" in shown.stdout and "Redis lock timeout" in shown.stdout
    assert len(hook.requests) == 1


def test_a_silence_from_the_command_line_survives_kill_9_and_ends_by_itself(
        tmp_path: Path) -> None:
    with Receiver() as hook, daemon(tmp_path, f"{hook.url}/hook") as running:
        log = running.logs / "worker-sync.log"
        log.write_text("")
        running.start()
        added = cli(running, "silence", "add", "--class", "lock_timeout", "--for", "40s",
                    "--comment", "restarting redis")
        assert added.returncode == 0, added.stderr
        silence_id = added.stdout.split()[0]
        time.sleep(1.5)                                         # the daemon picks it up
        write(log, LOCK.format(stamp=stamp(), n=1))
        wait_until(lambda: incidents(running), what="the incident")
        running.kill()                                          # kill -9 while it is held
        running.start()
        wait_until(lambda: incidents(running), what="the incident again (read again, or kept)")
        (held,) = incidents(running)
        assert held["silenced"] == silence_id
        write(log, LOCK.format(stamp=stamp(), n=2))             # another, also silenced
        wait_until(lambda: len(incidents(running)) == 2, what="the second incident")
        assert hook.requests == []
        listing = cli(running, "silence", "list")
        assert silence_id in listing.stdout and "restarting redis" in listing.stdout
        requests = hook.wait_for(2, timeout=60)                 # the silence ends: both sent
        assert sorted(r.json()["fields"]["lock"] for r in requests) == ["lock:job:1",
                                                                       "lock:job:2"]
        assert {r.json()["event"] for r in requests} == {"open"}
        assert running.stop() == 0
        assert "No active or pending silences." in cli(running, "silence", "list").stdout
        assert silence_id in cli(running, "silence", "list", "--expired").stdout


def test_silence_expire_from_the_command_line_releases_at_once(tmp_path: Path) -> None:
    with Receiver() as hook, daemon(tmp_path, f"{hook.url}/hook") as running:
        log = running.logs / "worker-sync.log"
        log.write_text("")
        running.start()
        added = cli(running, "silence", "add", "--service", "worker-sync", "--for", "2h")
        silence_id = added.stdout.split()[0]
        time.sleep(1.5)                                         # the daemon picks it up
        write(log, LOCK.format(stamp=stamp(), n=1))
        wait_until(lambda: incidents(running), what="the incident")
        time.sleep(1.0)
        assert hook.requests == []
        expired = cli(running, "silence", "expire", silence_id)
        assert expired.returncode == 0 and "expired" in expired.stdout
        (request,) = hook.wait_for(1, timeout=10)
        assert request.json()["event"] == "open"
        again = cli(running, "silence", "expire", silence_id)
        assert again.returncode == 2 and "no current silence" in again.stderr
        assert running.stop() == 0


def test_a_maintenance_window_holds_incidents_it_matches(tmp_path: Path) -> None:
    window = ('[[maintenance]]\nname = "all-week"\nservice = "batch-*"\n'
              'days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]\n'
              'start = "00:00"\nduration = "7d"\ntimezone = "Europe/Lisbon"\n')
    with Receiver() as hook, daemon(tmp_path, f"{hook.url}/hook", extra=window) as running:
        (running.logs / "batch-nightly.log").write_text("")
        (running.logs / "worker-sync.log").write_text("")
        running.start()
        write(running.logs / "batch-nightly.log", LOCK.format(stamp=stamp(), n=1))
        write(running.logs / "worker-sync.log", LOCK.format(stamp=stamp(), n=2))
        (request,) = hook.wait_for(1)
        assert request.json()["service"] == "worker-sync"
        wait_until(lambda: len(incidents(running)) == 2, what="both incidents")
        held = {i["service"]: i.get("silenced") for i in incidents(running)}
        assert held == {"batch-nightly": "maintenance:all-week", "worker-sync": None}
        page = httpx.get(running.url("/")).text
        assert "maintenance:all-week" in page and "all-week" in page
        time.sleep(1.0)
        assert len(hook.requests) == 1
        assert running.stop() == 0


def test_the_incident_history_lists_resolved_incidents_with_filters(tmp_path: Path) -> None:
    fast = '[detect]\nresolve_after = "1s"\nlateness = "0s"\n'
    with Receiver() as hook, daemon(tmp_path, f"{hook.url}/hook") as running:
        running.config.write_text(running.config.read_text().replace(
            "[detect]\nrates = false\n", fast.replace("[detect]\n", "[detect]\nrates = false\n")))
        log = running.logs / "worker-sync.log"
        log.write_text("")
        running.start()
        write(log, LOCK.format(stamp=stamp(), n=1))
        wait_until(lambda: any(r.json()["event"] == "resolve" for r in hook.requests),
                   what="the resolve")
        resolved = incidents(running, "?state=resolved&since=1h")
        assert [(i["class"], i["state"]) for i in resolved] == [("lock_timeout", "resolved")]
        assert incidents(running) == []                          # default: open ones only
        assert incidents(running, "?state=resolved&class=deadlock") == []
        assert httpx.get(running.url("/incidents?state=nope")).status_code == 400
        one = httpx.get(running.url(f"/incidents/{resolved[0]['id']}")).json()
        assert one["samples"] and one["runbook"]["steps"]
        assert running.stop() == 0
        listed = cli(running, "incidents", "list", "--state", "resolved", "--since", "24h",
                     "--service", "worker-sync")
        assert listed.returncode == 0, listed.stderr
        assert "resolved" in listed.stdout and "lock_timeout" in listed.stdout
        assert "1 incident: 0 open, 1 resolved" in listed.stdout
        none = cli(running, "incidents", "list", "--class", "deadlock")
        assert none.stdout == "No incidents.\n"
        assert cli(running, "incidents", "list", "--since", "soon").returncode == 2


def test_writes_need_the_token_beyond_loopback_and_reads_can_too(tmp_path: Path) -> None:
    token = "s3cr3t-token-0123456789"
    with Receiver() as hook, daemon(tmp_path, f"{hook.url}/hook",
                                    env={"DETECTOR_HTTP_TOKEN": token}) as running:
        running.config.write_text(running.config.read_text().replace(
            f'listen = "127.0.0.1:{running.port}"',
            f'listen = "0.0.0.0:{running.port}"\ntoken = "${{DETECTOR_HTTP_TOKEN}}"\n'
            "token_for_reads = true"))
        running.start()
        body = {"class": "deadlock", "for": "1h"}
        assert httpx.post(running.url("/api/silences"), json=body).status_code == 401
        wrong = httpx.post(running.url("/api/silences"), json=body,
                           headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        bearer = {"Authorization": f"Bearer {token}"}
        assert httpx.post(running.url("/api/silences"), json=body,
                          headers=bearer).status_code == 201
        assert httpx.post(running.url("/api/silences"), content=b"class=deadlock",
                          headers={**bearer, "Content-Type": "application/x-www-form-urlencoded"}
                          ).status_code == 415                   # no cross-site form posts
        page = httpx.get(running.url("/"))
        assert page.status_code == 401
        assert any(v.startswith("Basic") for v in page.headers.get_list("www-authenticate"))
        assert httpx.get(running.url("/"), auth=("anyone", token)).status_code == 200
        assert httpx.get(running.url("/incidents"), headers=bearer).status_code == 200
        assert httpx.get(running.url("/metrics")).status_code == 401
        assert httpx.get(running.url("/healthz")).status_code == 200     # health checks
        assert running.stop() == 0


def test_an_open_listen_without_a_token_refuses_writes_and_validate_warns(
        tmp_path: Path) -> None:
    with Receiver() as hook, daemon(tmp_path, f"{hook.url}/hook") as running:
        running.config.write_text(running.config.read_text().replace(
            f'listen = "127.0.0.1:{running.port}"', f'listen = "0.0.0.0:{running.port}"'))
        checked = cli(running, "validate")
        assert checked.returncode == 0
        assert "is beyond loopback and no [http] token is set" in checked.stderr
        running.start()
        refused = httpx.post(running.url("/api/silences"), json={"class": "x", "for": "1h"})
        assert refused.status_code == 403 and "token" in refused.json()["error"]
        assert httpx.get(running.url("/api/silences")).json() == []
        assert running.stop() == 0


def test_metrics_are_prometheus_exposition_with_build_and_process_metrics(
        tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    with Receiver() as hook, daemon(tmp_path, f"{hook.url}/hook") as running:
        running.start()
        answer = httpx.get(running.url("/metrics"))
        assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
        families = {f.name: f for f in text_string_to_metric_families(answer.text)}
        (build,) = families["detector_build_info"].samples
        assert build.labels["version"] and build.labels["python"] and build.value == 1.0
        for name in ("process_resident_memory_bytes", "process_open_fds",
                     "process_cpu_seconds", "detector_open_incidents",
                     "detector_http_connections"):
            assert name in families, name
        open_metrics = httpx.get(running.url("/metrics"), headers={
            "Accept": "application/openmetrics-text; version=1.0.0"})
        assert open_metrics.text.rstrip().endswith("# EOF")
        assert running.stop() == 0


def _descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_two_thousand_slow_clients_neither_stall_lines_nor_exhaust_descriptors(
        tmp_path: Path) -> None:
    clients = 2000
    with Receiver() as hook, daemon(tmp_path, f"{hook.url}/hook") as running:
        log = running.logs / "worker-sync.log"
        log.write_text("")
        running.start()
        assert running.process is not None
        idle = _descriptors(running.process.pid)
        held: list[socket.socket] = []
        slow_health: list[float] = []
        try:
            for n in range(clients):                       # half-open: headers never end
                sock = socket.create_connection(("127.0.0.1", running.port), timeout=5)
                sock.sendall(b"GET /incidents HTTP/1.1\r\nHost: x\r\n")
                held.append(sock)
                if n % 100 == 0:
                    write(log, LOCK.format(stamp=stamp(), n=n))     # lines keep flowing
                if n % 250 == 0:
                    started = time.monotonic()
                    assert httpx.get(running.url("/healthz"), timeout=5).status_code == 200
                    slow_health.append(time.monotonic() - started)
            peak = _descriptors(running.process.pid)
            for n in range(clients, clients + 5):
                write(log, LOCK.format(stamp=stamp(), n=n))
            wait_until(lambda: len(opened(hook)) == clients // 100 + 5, timeout=30,
                       what="every line's incident delivered during the flood")
            assert httpx.get(running.url("/healthz"), timeout=5).status_code == 200
        finally:
            for sock in held:
                sock.close()
        assert peak < idle + 256 + 64, (idle, peak)        # max_connections, not 2,000
        assert max(slow_health) < 2.0, slow_health
        metrics = httpx.get(running.url("/metrics")).text
        closed = sum(float(line.split()[-1]) for line in metrics.splitlines()
                     if line.startswith(("detector_http_connections_evicted_total",
                                         "detector_http_connections_cut_total")))
        assert closed >= clients - 256
        assert running.stop() == 0

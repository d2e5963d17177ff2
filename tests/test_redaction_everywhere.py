"""No secret leaves, wherever an incident goes: every secret of the corpus, logged in
the failures it would really ride on, is absent from every payload, page, file and
log the daemon and replay produce.

The places: the webhook, Slack, PagerDuty and a real Alertmanager (its API), the HTTP
endpoint's `/incidents` and status page, every file of the state directory (outbox,
history, checkpoints, detector state), the daemon's own log, and replay's JSONL output and
HTML report. A secret leaks when any 8-character piece of it (as in
tests/test_redact_corpus.py) shows up in a place and is not part of the text around it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
from components import start_alertmanager
from conftest import run_cli
from receivers import Receiver
from test_daemon import daemon, stamp
from test_redact_corpus import CORPUS, _pieces

# Each secret rides on a failure, three to an incident (an incident keeps three samples) ...
LINE = ("{stamp} ERROR [worker-sync] redis.exceptions.LockError: Unable to acquire lock on "
        "lock:job:{n} after 10 seconds (client {snippet})\n")
# ... and in a multi-line traceback and a JSON record of another service.
TRACEBACK = ("{stamp} ERROR [billing] request failed\nTraceback (most recent call last):\n"
             '  File "/srv/app/clients/upstream.py", line 88, in call\n'
             "    response.raise_for_status()\n"
             "app.errors.UpstreamAuthError: upstream rejected {snippet} (attempt {n})\n")
JSON = ('{{"@timestamp":"{iso}","level":"error","service":"gateway",'
        '"msg":"upstream rejected {json_snippet}","status":401}}\n')


def written_log(path: Path) -> None:
    parts = []
    for n, entry in enumerate(CORPUS["secrets"]):
        snippet = entry["snippet"]
        parts.append(LINE.format(stamp=stamp(), n=n // 3, snippet=snippet))
        parts.append(TRACEBACK.format(stamp=stamp(), n=n, snippet=snippet))
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        parts.append(JSON.format(iso=iso, json_snippet=json.dumps(snippet)[1:-1]))
    path.write_text("".join(parts))


def leaks(places: dict[str, str]) -> list[str]:
    found = []
    for entry in CORPUS["secrets"]:
        context = LINE + TRACEBACK + JSON + entry["snippet"].replace(entry["secret"], "")
        pieces = [p for p in _pieces(entry["secret"]) if p not in context]
        for where, text in places.items():
            leaked = [p for p in pieces if p in text]
            if leaked:
                found.append(f"{entry['provider']} in {where}: {leaked[:2]}")
    return found


def test_no_secret_reaches_any_destination_endpoint_file_or_log(tmp_path: Path) -> None:
    incidents = (len(CORPUS["secrets"]) + 2) // 3      # the lock incidents alone
    with Receiver() as hook, Receiver() as routed:
        am_process, am_url = start_alertmanager(tmp_path, f"{routed.url}/am")
        extra = f"""
[[notify]]
type = "slack"
name = "slack"
url = "{hook.url}/slack"
min_severity = "info"
[[notify]]
type = "pagerduty"
name = "pagerduty"
url = "{hook.url}/pagerduty"
routing_key = "R0UT1NGKEY0000000000000000000000"
min_severity = "info"
[[notify]]
type = "alertmanager"
name = "alertmanager"
url = "{am_url}"
min_severity = "info"
"""
        try:
            with daemon(tmp_path, f"{hook.url}/hook", extra=extra) as running:
                written_log(running.logs / "app.log")
                running.start()
                # every lock incident, through three HTTP destinations
                deadline = time.time() + 120
                while time.time() < deadline:
                    paths = [r.path for r in hook.requests]
                    if min(paths.count(p) for p in ("/hook", "/slack", "/pagerduty")) >= incidents:
                        break
                    time.sleep(0.5)
                places = {
                    f"{r.path} request {i}": r.body.decode(errors="replace")
                    for i, r in enumerate(hook.requests)}
                for path in ("/hook", "/slack", "/pagerduty"):
                    assert sum(k.startswith(path + " ") for k in places) >= incidents, path
                wait_alerts = time.time() + 60
                alerts = ""
                while time.time() < wait_alerts:
                    alerts = httpx.get(f"{am_url}/api/v2/alerts", timeout=10).text
                    if alerts.count('"alertname"') >= incidents:
                        break
                    time.sleep(0.5)
                assert alerts.count('"alertname"') >= incidents
                places["alertmanager /api/v2/alerts"] = alerts
                places["/incidents"] = httpx.get(running.url("/incidents?state=all")).text
                places["status page"] = httpx.get(running.url("/")).text
                assert running.stop() == 0
                for file in sorted((tmp_path / "state").rglob("*")):
                    if file.is_file():
                        places[f"state file {file.name}"] = file.read_bytes().decode(
                            errors="replace")
                places["daemon log"] = running.log_file.read_text(errors="replace")
        finally:
            am_process.terminate()
            am_process.wait(10)

    report = tmp_path / "report.html"
    result = run_cli("replay", str(tmp_path / "logs" / "app.log"), "--output", "jsonl",
                     "--report", str(report))
    assert result.code == 0, result.err
    assert result.out.count('"event":"open"') >= incidents
    places["replay output"] = result.out
    places["replay stderr"] = result.err
    places["replay report"] = report.read_text()

    assert any(k.startswith("state file") for k in places)
    found = leaks(places)
    assert found == [], "\n".join(found)

"""The status page at GET /, as a person sees it: rendered by a real headless browser (Debian's
chromium), from a real daemon that saw a test line."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx
from components import ensure_debian_package
from receivers import Receiver
from test_daemon import LOCK, daemon, stamp
from test_daemon_operating import incidents, wait_until, write


def chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    binary = ensure_debian_package("chromium", "chromium")
    return subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-background-networking", "--no-first-run",
                           "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={tmp / 'profile'}", *args],
                          capture_output=True, timeout=120, check=False)


def test_the_status_page_shows_an_incident_from_a_test_line_in_a_real_browser(
        tmp_path: Path) -> None:
    runbook = ('[[runbook]]\nclass = "lock_timeout"\nurl = "https://wiki.example/locks"\n'
               '[[maintenance]]\nname = "nightly"\nservice = "batch-*"\ndays = ["sat"]\n'
               'start = "02:00"\nduration = "2h"\n')
    with Receiver() as hook, daemon(tmp_path, f"{hook.url}/hook", extra=runbook) as running:
        log = running.logs / "worker-sync.log"
        log.write_text("")
        running.start()
        write(log, LOCK.format(stamp=stamp(), n=42))
        wait_until(lambda: incidents(running), what="the incident")
        httpx.post(running.url("/api/silences"), json={
            "service": "billing", "for": "2h", "comment": "migrating the ledger"})

        page = httpx.get(running.url("/"))
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        html = page.text
        assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//(?!wiki\.example)""",
                             html)                                # no external assets
        assert "<script" not in html

        dom = chromium(tmp_path, "--dump-dom", running.url("/"))
        assert dom.returncode == 0, dom.stderr.decode()[-2000:]
        shown = dom.stdout.decode()
        assert "Redis lock lock:job:42 not acquired" in shown     # the incident, opened by the line
        assert "worker-sync" in shown and "lock_timeout" in shown
        assert "https://wiki.example/locks" in shown                # the user's runbook
        assert "migrating the ledger" in shown                      # the silence
        assert "nightly" in shown                                   # the maintenance window
        assert "app-logs" in shown                                  # the source and its health
        assert shown.count("<svg") >= 1                             # the service's rate chart

        shot = tmp_path / "status.png"
        taken = chromium(tmp_path, "--hide-scrollbars", "--window-size=1200,1400",
                         f"--screenshot={shot}", running.url("/"))
        assert taken.returncode == 0, taken.stderr.decode()[-2000:]
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
        assert running.stop() == 0

"""What the live benchmarks share: a daemon process, a webhook receiver, Tansu, RSS.

Nothing here is imported by ``detector``; the benchmarks drive the real
``detector run`` as an operator would, over its config file and its HTTP endpoint.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"

# The real components are started exactly as the tests start them.
sys.path.insert(0, str(ROOT / "tests"))
from components import create_topic, free_port, start_tansu  # noqa: E402

__all__ = ["OUT", "DaemonProcess", "Hook", "create_topic", "followed_log", "free_port",
           "machine", "memory_kib", "percentile", "stamp", "start_tansu", "wait_until"]


def machine() -> str:
    """The line each table states its machine with."""
    return (f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}")


def followed_log(work: Path, name: str) -> tuple[Path, str]:
    """An empty log file under ``work/logs`` and the ``[[source]]`` that follows it."""
    log = work / "logs" / name
    log.parent.mkdir()
    log.touch()
    return log, f'[[source]]\ntype = "file"\nname = "app"\npath = "{log.parent}/*.log"\n'


def stamp(at: float | None = None) -> str:
    """A Python-logging timestamp for now: ``2026-11-22 10:00:03,141``."""
    now = time.time() if at is None else at
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)) + f",{int(now % 1 * 1000):03d}"


def wait_until(condition: Callable[[], bool], timeout: float, what: str,
               every: float = 0.1) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise SystemExit(f"gave up waiting: {what}")
        time.sleep(every)


@dataclass
class Received:
    at: float
    event: dict[str, Any]
    event_id: str


class Hook:
    """A webhook receiver on loopback that records when each notification arrived."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                at = time.time()
                try:
                    event = json.loads(body)
                except ValueError:            # the sender was stopped in mid-request
                    return
                with hook.lock:
                    hook.received.append(Received(at, event,
                                                  self.headers.get("X-Detector-Event-Id", "")))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Hook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def opened(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.event["event"] == "open"]


class DaemonProcess:
    """``detector run -c <config>`` with a webhook destination and an HTTP endpoint."""

    def __init__(self, work: Path, source: str, webhook: str, extra: str = "",
                 state: Path | None = None, wrapper: list[str] | None = None) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.work = work
        self.port = free_port()
        self.wrapper = wrapper or []          # a command to run the daemon under (capsh…)
        self.config = work / "detector.toml"
        self.config.write_text(f"""[state]
dir = "{state or work / 'state'}"
[http]
listen = "127.0.0.1:{self.port}"
{source}
[[notify]]
type = "webhook"
name = "hook"
url = "{webhook}"
min_severity = "info"
{extra}
""")
        self.log = work / "daemon.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.env = {**os.environ, "DETECTOR_CACHE_DIR": str(OUT / "hs-cache")}

    def start(self) -> DaemonProcess:
        command = [sys.executable, "-m", "detector", "run", "-c", str(self.config)]
        if self.wrapper:
            command = [*self.wrapper, " ".join(command)]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                            env=self.env, cwd=ROOT)
        deadline = time.time() + 60
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"detector exited: {self.log.read_text()[-3000:]}")
            try:
                httpx.get(self.url("/healthz"), timeout=0.5)
                return self
            except httpx.HTTPError:
                if time.time() > deadline:
                    raise SystemExit("detector did not start") from None
                time.sleep(0.05)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def metric(self, name: str, **labels: str) -> float:
        """One series from /metrics (0 when it is not there yet)."""
        wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
                         if labels else "")
        for line in httpx.get(self.url("/metrics"), timeout=5).text.splitlines():
            series, _, value = line.rpartition(" ")
            if series == wanted:
                return float(value)
        return 0.0

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)

    def __enter__(self) -> DaemonProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def memory_kib(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) of a process in KiB, from /proc."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]

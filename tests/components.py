"""Real components for tests: installed when missing, started on loopback.

A component that cannot be installed or started fails the test that needs it:
in CI a missing install step must show, never hide behind a skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_debian_package(package: str, binary: str) -> str:
    """The path of ``binary``, installing Debian's ``package`` first if it is missing."""
    found = shutil.which(binary)
    if found:
        return found
    apt = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = subprocess.run(apt, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, check=False)
        result = subprocess.run(apt, capture_output=True, text=True, env=env, check=False)
    found = shutil.which(binary)
    if not found:
        pytest.fail(f"{binary} is needed and could not be installed from Debian's {package}: "
                    f"{result.stderr[-1000:]}")
    return found


def wait_http(url: str, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"process for {url} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{url} did not come up in {timeout}s")


def start_alertmanager(tmp: Path, webhook_url: str) -> tuple[subprocess.Popen[bytes], str]:
    binary = ensure_debian_package("prometheus-alertmanager", "prometheus-alertmanager")
    port = free_port()
    config = tmp / "alertmanager.yml"
    config.write_text(f"""
route:
  receiver: detector-test
  group_by: ['alertname', 'service', 'fingerprint']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: detector-test
    webhook_configs:
      - url: {webhook_url}
        send_resolved: true
""")
    with (tmp / "alertmanager.log").open("wb") as log:
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.path={tmp / 'am-data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
             "--log.level=warn"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/-/ready", process=process)
    return process, url

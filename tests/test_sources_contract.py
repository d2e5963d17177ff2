"""One contract, every source: whole lines, in order, the right service, and a place
that survives a restart (committed lines are not handed over again, none is skipped).

Each source runs against its real component or a protocol-exact server:
files on disk, stdin through a pipe, the Docker engine API on a Unix socket,
CloudWatch Logs in moto, Loki's HTTP API, Kafka in Tansu, the systemd journal in real
journal files (written by systemd-journal-remote, read by journalctl).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from components import create_topic, start_moto, start_tansu
from fake_docker import Container, FakeDocker
from fake_loki import FakeLoki

from detector.config import (
    CloudWatchSourceConfig,
    DockerSourceConfig,
    FileSourceConfig,
    KafkaSourceConfig,
    LokiSourceConfig,
    StdinSourceConfig,
)
from detector.sources import build_source
from detector.sources.base import Batch, Source
from detector.telemetry.metrics import Registry

KINDS = ["file", "stdin", "docker", "cloudwatch", "loki", "kafka", "journald"]


@dataclass
class System:
    """A source's world: how to make lines appear in it, and how to build the source."""

    make: Callable[[], Source]
    write: Callable[[list[str]], Any]
    service: str
    resumable: bool = True
    cleanup: list[Callable[[], Any]] = field(default_factory=list)
    text: Callable[[str], str] = lambda line: line     # the message a line carries


class Collector:
    def __init__(self, text: Callable[[str], str] = lambda line: line) -> None:
        self.batches: list[Batch] = []
        self.text = text

    async def emit(self, batch: Batch) -> None:
        self.batches.append(batch)

    def lines(self) -> list[str]:
        return [self.text(line) for b in self.batches for line in b.data.decode().splitlines()]

    async def wait_for(self, count: int, within: float = 30.0) -> list[str]:
        deadline = time.monotonic() + within
        while len(self.lines()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} lines, got {self.lines()}")
            await asyncio.sleep(0.05)
        return self.lines()


@contextlib.asynccontextmanager
async def running(source: Source, text: Callable[[str], str] = lambda line: line,
                  ) -> AsyncIterator[Collector]:
    collector = Collector(text)
    stop = asyncio.Event()
    task = asyncio.create_task(source.run(collector.emit, stop))
    try:
        yield collector
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 15)


def messages(tag: str, count: int) -> list[str]:
    return [f"2026-11-20 10:00:{i:02d},000 {'ERROR' if i % 3 == 0 else 'INFO'} {tag} line {i}"
            for i in range(count)]


# -- the systems ---------------------------------------------------------------------

async def file_system(tmp_path: Path) -> System:
    log = tmp_path / "orders-worker.log"
    log.touch()
    config = FileSourceConfig(type="file", name="files", path=str(tmp_path / "*.log"),
                              start_at="beginning", poll_interval=0.05)

    def write(lines: list[str]) -> None:
        with log.open("a") as handle:
            handle.write("".join(f"{line}\n" for line in lines))

    return System(lambda: build_source(config, Registry(), lambda: False), write,
                  "orders-worker")


async def stdin_system(tmp_path: Path) -> System:
    read_end, write_end = os.pipe()
    config = StdinSourceConfig(type="stdin", name="in", service="piped")
    reader = os.fdopen(read_end, "rb", buffering=0)

    def make() -> Source:
        from detector.sources.stdin import StdinSource

        return StdinSource(config, Registry(), stream=reader)

    def write(lines: list[str]) -> None:
        os.write(write_end, "".join(f"{line}\n" for line in lines).encode())

    return System(make, write, "piped", resumable=False,
                  cleanup=[lambda: os.close(write_end), reader.close])


async def docker_system(tmp_path: Path) -> System:
    engine = FakeDocker(tmp_path / "docker.sock").__enter__()
    container = Container(id=uuid.uuid4().hex * 2, name="shop_web_1",
                          labels={"com.docker.compose.service": "web"})
    engine.add(container)
    config = DockerSourceConfig(type="docker", name="docker", socket=str(engine.path),
                                start_at="beginning")

    def write(lines: list[str]) -> None:
        for line in lines:
            engine.log(container.id, line)

    return System(lambda: build_source(config, Registry(), lambda: False), write, "web",
                  cleanup=[lambda: engine.__exit__(None)])


async def cloudwatch_system(tmp_path: Path) -> System:
    import boto3

    server, url = start_moto()
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "eu-west-1"})
    logs = boto3.client("logs", endpoint_url=url, region_name="eu-west-1")
    group = f"/ecs/crypto-wallet/wallet-service-{uuid.uuid4().hex[:6]}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="task-1")
    config = CloudWatchSourceConfig(type="cloudwatch", name="cw", log_group=group,
                                    region="eu-west-1", endpoint_url=url, start_at="beginning",
                                    poll_interval=0.2)

    def write(lines: list[str]) -> None:
        now = int(time.time() * 1000)
        logs.put_log_events(logGroupName=group, logStreamName="task-1", logEvents=[
            {"timestamp": now + i, "message": line} for i, line in enumerate(lines)])

    return System(lambda: build_source(config, Registry(), lambda: False), write,
                  group.rsplit("/", 1)[-1], cleanup=[server.stop])  # type: ignore[attr-defined]


async def loki_system(tmp_path: Path) -> System:
    loki = FakeLoki(tenant="team-a").__enter__()
    config = LokiSourceConfig(type="loki", name="loki", url=loki.url, query='{app="api"}',
                              tenant="team-a", poll_interval=0.1, limit=4,
                              start_at="beginning")

    def write(lines: list[str]) -> None:
        now = time.time_ns()
        for i, line in enumerate(lines):
            loki.push(now + i, {"app": "api", "service_name": "billing-api"}, line)
        loki.push(now, {"app": "other"}, "not selected by the query")

    return System(lambda: build_source(config, Registry(), lambda: False), write,
                  "billing-api", cleanup=[lambda: loki.__exit__(None)])


async def kafka_system(tmp_path: Path) -> System:
    from aiokafka import AIOKafkaProducer

    process, bootstrap = start_tansu()
    await create_topic(bootstrap, "logs", 3)
    config = KafkaSourceConfig(type="kafka", name="kafka", brokers=(bootstrap,),
                               topics=("logs",), group_id="detector-test",
                               start_at="beginning")

    async def write(lines: list[str]) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for line in lines:
                await producer.send_and_wait("logs", line.encode(), key=b"payments",
                                             partition=0)
        finally:
            await producer.stop()

    return System(lambda: build_source(config, Registry(), lambda: False), write, "payments",
                  cleanup=[process.kill])


async def journald_system(tmp_path: Path) -> System:
    import orjson
    from test_journald_source import entry, write_entries

    from detector.config.sources import JournaldSourceConfig

    journal = tmp_path / "journal"
    (journal).mkdir()
    config = JournaldSourceConfig(type="journald", name="journal", format="journald",
                                  directory=str(journal), units=("orders-worker",))

    def write(lines: list[str]) -> None:
        write_entries(journal, [entry("orders-worker", line) for line in lines])

    return System(lambda: build_source(config, Registry(), lambda: False), write,
                  "orders-worker", text=lambda line: orjson.loads(line)["MESSAGE"])


SYSTEMS = {"file": file_system, "stdin": stdin_system, "docker": docker_system,
           "cloudwatch": cloudwatch_system, "loki": loki_system, "kafka": kafka_system,
           "journald": journald_system}


@pytest.fixture(params=KINDS)
async def system(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[System]:
    built = await SYSTEMS[request.param](tmp_path)
    try:
        yield built
    finally:
        for step in built.cleanup:
            with contextlib.suppress(Exception):
                step()


async def write(system: System, lines: list[str]) -> None:
    result = system.write(lines)
    if asyncio.iscoroutine(result):
        await result


async def test_every_source_keeps_lines_whole_in_order_and_resumes(system: System) -> None:
    first, second = messages("first", 10), messages("second", 5)
    source = system.make()
    async with running(source, system.text) as collector:
        await asyncio.sleep(0.3)
        await write(system, first)
        got = await collector.wait_for(len(first))
        assert all(b.data.endswith(b"\n") for b in collector.batches if b.data)
        assert [line for line in got if "first" in line] == [
            line for line in got if any(line.endswith(m) for m in first)]
        assert [next(m for m in first if line.endswith(m)) for line in got[:len(first)]] == first
        assert {b.origin.service for b in collector.batches if b.data} == {system.service}
        assert source.health.ok
        for batch in collector.batches:
            if batch.token is not None:
                source.commit(batch.token)
        if hasattr(source, "flush_commits"):
            await source.flush_commits()
        saved = source.checkpoint()
    if not system.resumable:
        return
    await write(system, second)
    again = system.make()
    again.restore(saved)
    async with running(again, system.text) as collector:
        got = await collector.wait_for(len(second))
        await asyncio.sleep(0.5)                      # nothing else may follow
        got = collector.lines()
    assert [next(m for m in second if line.endswith(m)) for line in got] == second

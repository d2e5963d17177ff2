"""Docker: frames, partial lines, TTYs, new containers, filters, and json-file logs."""

from __future__ import annotations

import json
import struct
import uuid
from pathlib import Path

import pytest
from fake_docker import Container, FakeDocker
from test_sources_contract import running

from detector.config import DockerSourceConfig
from detector.sources.docker import DockerFileSource, DockerSource, FrameDecoder, FrameError
from detector.telemetry.metrics import Registry


def container(name: str, **changes: object) -> Container:
    return Container(id=uuid.uuid4().hex * 2, name=name, **changes)  # type: ignore[arg-type]


def docker(engine: FakeDocker, **changes: object) -> DockerSource:
    config = DockerSourceConfig(type="docker", name="docker", socket=str(engine.path),
                                start_at="beginning", **changes)  # type: ignore[arg-type]
    return DockerSource(config, Registry())


def test_frames_are_decoded_across_chunk_boundaries() -> None:
    stream = b"".join(struct.pack(">BxxxI", kind, len(p)) + p
                      for kind, p in [(1, b"out line\n"), (2, b"err line\n")])
    decoder = FrameDecoder()
    frames = []
    for i in range(0, len(stream), 5):
        frames += decoder.feed(stream[i:i + 5])
    assert frames == [(1, b"out line\n"), (2, b"err line\n")]
    with pytest.raises(FrameError):
        FrameDecoder().feed(b"\x09\x00\x00\x00\x00\x00\x00\x01x")


async def test_partial_16k_messages_are_merged_into_one_line(tmp_path: Path) -> None:
    with FakeDocker(tmp_path / "d.sock") as engine:
        web = container("web")
        engine.add(web)
        source = docker(engine)
        async with running(source) as collector:
            long_line = "ERROR " + "x" * 40_000
            engine.log(web.id, long_line)
            engine.log(web.id, "short after it")
            got = await collector.wait_for(2)
    assert [line.split(" ", 1)[1] for line in got] == [long_line, "short after it"]
    assert got[0].split(" ", 1)[0].endswith("Z")          # the first piece's timestamp stays


async def test_tty_containers_send_a_raw_stream(tmp_path: Path) -> None:
    with FakeDocker(tmp_path / "d.sock") as engine:
        tty = container("console", tty=True)
        engine.add(tty)
        async with running(docker(engine)) as collector:
            engine.log(tty.id, "from a terminal")
            (line,) = await collector.wait_for(1)
    assert line.endswith(" from a terminal")


async def test_containers_started_later_are_followed(tmp_path: Path) -> None:
    with FakeDocker(tmp_path / "d.sock") as engine:
        async with running(docker(engine)) as collector:
            late = container("late-starter", labels={"com.docker.compose.service": "jobs"})
            engine.add(late, announce=True)
            engine.log(late.id, "hello from a new container")
            await collector.wait_for(1)
    assert collector.batches[0].origin.service == "jobs"


async def test_name_and_label_filters(tmp_path: Path) -> None:
    with FakeDocker(tmp_path / "d.sock") as engine:
        wanted = container("shop_web_1", labels={"team": "shop", "logs": "on"})
        other = container("db", labels={"team": "shop"})
        for c in (wanted, other):
            engine.add(c)
        source = docker(engine, containers=("shop_*",), labels=("team=shop", "logs"))
        async with running(source) as collector:
            engine.log(other.id, "not followed")
            engine.log(wanted.id, "followed")
            got = await collector.wait_for(1)
    assert [line.split(" ", 1)[1] for line in got] == ["followed"]


async def test_a_corrupt_frame_is_counted_and_the_stream_resumes_without_loss(
        tmp_path: Path) -> None:
    with FakeDocker(tmp_path / "d.sock") as engine:
        web = container("web")
        engine.add(web)
        source = docker(engine)
        async with running(source) as collector:
            engine.log(web.id, "one")
            await collector.wait_for(1)
            engine.corrupt_next_frame = True
            engine.log(web.id, "two")
            engine.log(web.id, "three")
            got = await collector.wait_for(3, within=30)
    assert [line.split(" ", 1)[1] for line in got] == ["one", "two", "three"]
    assert source.errors.value(source="docker", kind="frame") == 1


async def test_json_file_mode_reads_container_logs_from_disk(tmp_path: Path) -> None:
    directory = tmp_path / ("a" * 64)
    directory.mkdir()
    (directory / "config.v2.json").write_text(json.dumps({
        "Name": "/shop_worker_1",
        "Config": {"Labels": {"com.docker.compose.service": "worker"}}}))
    with (directory / f"{'a' * 64}-json.log").open("w") as handle:
        handle.write(json.dumps({"log": "2026-11-20 10:00:00,000 ERROR boom\n",
                                 "stream": "stderr", "time": "2026-11-20T10:00:00.1Z"}) + "\n")
    config = DockerSourceConfig(type="docker", name="docker",
                                json_files=str(tmp_path / "*" / "*-json.log"),
                                start_at="beginning")
    source = DockerFileSource(config, Registry())
    async with running(source) as collector:
        (line,) = await collector.wait_for(1)
    assert json.loads(line)["stream"] == "stderr"
    assert collector.batches[0].origin.service == "worker"

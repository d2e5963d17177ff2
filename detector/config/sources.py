"""``[[source]]`` tables: where the daemon reads logs from."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypedDict

from detector.config.toml import Table
from detector.decode.formats import FORMATS


@dataclass(frozen=True)
class SourceConfig:
    """Keys every source has."""

    type: str
    name: str
    service: str | None = None          # overrides what the source or the line says
    format: str = "auto"
    max_silence: float | None = None    # silent longer than this → a source_down incident
    line: int | None = None             # where it was defined, for messages


@dataclass(frozen=True)
class FileSourceConfig(SourceConfig):
    path: str = ""
    exclude: tuple[str, ...] = ()
    start_at: str = "end"               # for files never seen before
    poll_interval: float = 0.25
    max_line_bytes: int = 1 << 20


@dataclass(frozen=True)
class StdinSourceConfig(SourceConfig):
    max_line_bytes: int = 1 << 20


@dataclass(frozen=True)
class DockerSourceConfig(SourceConfig):
    socket: str = "/var/run/docker.sock"
    containers: tuple[str, ...] = ()     # names or name globs; empty = all
    labels: tuple[str, ...] = ()         # "key" or "key=value"; all must hold
    service_label: str = "com.docker.compose.service"
    json_files: str = ""                 # json-file mode: a glob of *-json.log files
    start_at: str = "end"


@dataclass(frozen=True)
class CloudWatchSourceConfig(SourceConfig):
    log_group: str = ""
    region: str = ""
    endpoint_url: str | None = None
    filter_pattern: str = ""
    stream_prefix: str = ""
    poll_interval: float = 5.0
    timeout: float = 30.0               # one request, seconds
    start_at: str = "end"


@dataclass(frozen=True)
class LokiSourceConfig(SourceConfig):
    url: str = ""
    query: str = ""
    tenant: str | None = None
    poll_interval: float = 2.0
    limit: int = 1000
    timeout: float = 30.0               # one request, seconds
    service_labels: tuple[str, ...] = ("service_name", "service", "app", "container", "job")
    headers: dict[str, str] = field(default_factory=dict)
    start_at: str = "end"


@dataclass(frozen=True)
class KafkaSourceConfig(SourceConfig):
    brokers: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    group_id: str = "detector"
    start_at: str = "end"               # auto_offset_reset for a new group: end | beginning
    client_id: str = "detector"
    state_topic: str = "detector-state"  # compacted topic of per-partition learned state; "" = off


@dataclass(frozen=True)
class JournaldSourceConfig(SourceConfig):
    units: tuple[str, ...] = ()          # systemd units ("orders" = "orders.service")
    identifiers: tuple[str, ...] = ()    # SYSLOG_IDENTIFIER values; with units: either
    directory: str = ""                  # a journal directory (journalctl --directory)
    start_at: str = "end"                # with no checkpoint: end | beginning
    journalctl: str = "journalctl"


class _Common(TypedDict):
    type: str
    name: str
    service: str | None
    format: str
    max_silence: float | None
    line: int | None


_START = ("end", "beginning")
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")


def _file(table: Table, common: _Common) -> FileSourceConfig:
    return FileSourceConfig(
        **common, path=table.required_str("path"),
        exclude=tuple(table.str_list("exclude")),
        start_at=table.choice("start_at", "end", _START),
        poll_interval=table.duration("poll_interval", 0.25, minimum=0.01),
        max_line_bytes=table.size("max_line_bytes", 1 << 20))


def _stdin(table: Table, common: _Common) -> StdinSourceConfig:
    return StdinSourceConfig(**common, max_line_bytes=table.size("max_line_bytes", 1 << 20))


def _docker(table: Table, common: _Common) -> DockerSourceConfig:
    return DockerSourceConfig(
        **common, socket=table.text("socket", "/var/run/docker.sock"),
        containers=tuple(table.str_list("containers")),
        labels=tuple(table.str_list("labels")),
        service_label=table.text("service_label", "com.docker.compose.service"),
        json_files=table.text("json_files", ""),
        start_at=table.choice("start_at", "end", _START))


def _cloudwatch(table: Table, common: _Common) -> CloudWatchSourceConfig:
    return CloudWatchSourceConfig(
        **common, log_group=table.required_str("log_group"),
        region=table.text("region", ""), endpoint_url=table.text("endpoint_url", None),
        filter_pattern=table.text("filter_pattern", ""),
        stream_prefix=table.text("stream_prefix", ""),
        poll_interval=table.duration("poll_interval", 5.0, minimum=0.05),
        timeout=table.duration("timeout", 30.0, minimum=0.1),
        start_at=table.choice("start_at", "end", _START))


def _loki(table: Table, common: _Common) -> LokiSourceConfig:
    return LokiSourceConfig(
        **common, url=table.required_str("url").rstrip("/"),
        query=table.required_str("query"), tenant=table.text("tenant", None),
        poll_interval=table.duration("poll_interval", 2.0, minimum=0.05),
        limit=table.integer("limit", 1000, minimum=1),
        timeout=table.duration("timeout", 30.0, minimum=0.1),
        service_labels=tuple(table.str_list(
            "service_labels", ["service_name", "service", "app", "container", "job"])),
        headers=table.str_map("headers"),
        start_at=table.choice("start_at", "end", _START))


def _kafka(table: Table, common: _Common) -> KafkaSourceConfig:
    brokers = table.str_list("brokers")
    topics = table.str_list("topics")
    if not brokers:
        raise table.error("brokers", "a kafka source needs brokers = [\"host:port\", ...]")
    if not topics:
        raise table.error("topics", "a kafka source needs topics = [\"name\", ...]")
    state_topic = table.text("state_topic", "detector-state")
    if state_topic and not _TOPIC.fullmatch(state_topic):
        raise table.error("state_topic", f"{state_topic!r} is not a Kafka topic name (letters, "
                                         "digits, '.', '_', '-'; at most 249), or \"\" for none")
    if state_topic in topics:
        raise table.error("state_topic", f"{state_topic!r} is also in topics: the state topic "
                                         "holds the detector's learned state, not log lines")
    return KafkaSourceConfig(
        **common, brokers=tuple(brokers), topics=tuple(topics),
        group_id=table.text("group_id", "detector"),
        start_at=table.choice("start_at", "end", _START),
        client_id=table.text("client_id", "detector"), state_topic=state_topic)


def _journald(table: Table, common: _Common) -> JournaldSourceConfig:
    if common["format"] not in ("auto", "journald"):
        raise table.error("format", "a journald source reads journalctl's JSON: format is "
                                    "\"journald\" (or leave it out)")
    common["format"] = "journald"
    return JournaldSourceConfig(
        **common, units=tuple(table.str_list("units")),
        identifiers=tuple(table.str_list("identifiers")),
        directory=table.text("directory", ""),
        start_at=table.choice("start_at", "end", _START),
        journalctl=table.text("journalctl", "journalctl"))


# type → how its table is read. detector.sources.SOURCES maps the same types to the
# classes that run them; a test holds the two (and the docs) together.
SOURCE_READERS: dict[str, Callable[[Table, _Common], SourceConfig]] = {
    "file": _file, "docker": _docker, "cloudwatch": _cloudwatch, "loki": _loki,
    "kafka": _kafka, "stdin": _stdin, "journald": _journald,
}
SOURCE_TYPES = tuple(SOURCE_READERS)


def read_source(table: Table, index: int) -> SourceConfig:
    if not table.has("type"):
        raise table.error(None, f"[[source]] #{index + 1} needs a type: "
                                f"one of {', '.join(SOURCE_TYPES)}")
    kind = table.choice("type", "", SOURCE_TYPES)
    common: _Common = {
        "type": kind,
        "name": table.text("name", f"{kind}-{index + 1}"),
        "service": table.text("service", None),
        "format": table.choice("format", "auto", FORMATS),
        "max_silence": table.duration("max_silence", 0.0) or None,
        "line": table.line(),
    }
    config = SOURCE_READERS[kind](table, common)
    table.done()
    return config

"""Where logs come from: one module per kind of source, and the type → class table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from detector.config import SourceConfig
from detector.sources.base import Batch, Source
from detector.telemetry.metrics import Registry

__all__ = ["SOURCES", "Batch", "Source", "build_source"]

QueueFull = Callable[[], bool]


def _file(config: Any, registry: Registry, queue_full: QueueFull) -> Source:
    from detector.sources.file import FileSource

    return FileSource(config, registry)


def _stdin(config: Any, registry: Registry, queue_full: QueueFull) -> Source:
    from detector.sources.stdin import StdinSource

    return StdinSource(config, registry)


def _docker(config: Any, registry: Registry, queue_full: QueueFull) -> Source:
    from detector.sources.docker import DockerFileSource, DockerSource

    if config.json_files:
        return DockerFileSource(config, registry)
    return DockerSource(config, registry)


def _cloudwatch(config: Any, registry: Registry, queue_full: QueueFull) -> Source:
    from detector.sources.cloudwatch import CloudWatchSource

    return CloudWatchSource(config, registry)


def _loki(config: Any, registry: Registry, queue_full: QueueFull) -> Source:
    from detector.sources.loki import LokiSource

    return LokiSource(config, registry)


def _kafka(config: Any, registry: Registry, queue_full: QueueFull) -> Source:
    from detector.sources.kafka import KafkaSource

    return KafkaSource(config, registry, queue_full)


def _journald(config: Any, registry: Registry, queue_full: QueueFull) -> Source:
    from detector.sources.journald import JournaldSource

    return JournaldSource(config, registry)


# type → what runs it (imported on demand: a daemon without Kafka never loads aiokafka).
# detector.config.sources.SOURCE_READERS reads the same types' tables.
SOURCES: dict[str, Callable[[Any, Registry, QueueFull], Source]] = {
    "file": _file, "docker": _docker, "cloudwatch": _cloudwatch, "loki": _loki,
    "kafka": _kafka, "stdin": _stdin, "journald": _journald,
}


def build_source(config: SourceConfig, registry: Registry, queue_full: QueueFull) -> Source:
    return SOURCES[config.type](config, registry, queue_full)

"""Where logs come from: one module per kind of source."""

from __future__ import annotations

from collections.abc import Callable

from detector.config import (
    CloudWatchSourceConfig,
    DockerSourceConfig,
    FileSourceConfig,
    KafkaSourceConfig,
    LokiSourceConfig,
    SourceConfig,
    StdinSourceConfig,
)
from detector.sources.base import Batch, Source
from detector.telemetry.metrics import Registry

__all__ = ["Batch", "Source", "build_source"]


def build_source(config: SourceConfig, registry: Registry,
                 queue_full: Callable[[], bool]) -> Source:
    if isinstance(config, FileSourceConfig):
        from detector.sources.file import FileSource

        return FileSource(config, registry)
    if isinstance(config, StdinSourceConfig):
        from detector.sources.stdin import StdinSource

        return StdinSource(config, registry)
    if isinstance(config, DockerSourceConfig):
        from detector.sources.docker import DockerFileSource, DockerSource

        if config.json_files:
            return DockerFileSource(config, registry)
        return DockerSource(config, registry)
    if isinstance(config, CloudWatchSourceConfig):
        from detector.sources.cloudwatch import CloudWatchSource

        return CloudWatchSource(config, registry)
    if isinstance(config, LokiSourceConfig):
        from detector.sources.loki import LokiSource

        return LokiSource(config, registry)
    if isinstance(config, KafkaSourceConfig):
        from detector.sources.kafka import KafkaSource

        return KafkaSource(config, registry, queue_full)
    raise AssertionError(config.type)

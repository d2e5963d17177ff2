"""Prometheus metrics: counters and gauges with labels, exposed by ``prometheus_client``.

The detector's own series live in a small :class:`Registry`, updated from one event loop;
gauges and counters may be backed by a callback so that values such as outbox depth are
read at scrape time, never kept in two places. :func:`exposition` hands them, with
``detector_build_info`` and the ``process_*`` and ``python_*`` metrics, to
``prometheus_client``'s exposition (the text format, or OpenMetrics when the scraper
asks for it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from threading import Lock
from typing import Any, TypeVar

__all__ = ["Counter", "Gauge", "Registry", "exposition"]

Labels = tuple[tuple[str, str], ...]
Source = Callable[[], Iterable[tuple[dict[str, str], float]]]


def _labels(values: dict[str, str]) -> Labels:
    return tuple(sorted(values.items()))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format(name: str, labels: Labels, value: float) -> str:
    if labels:
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
        name = f"{name}{{{inner}}}"
    if math.isinf(value):
        text = "+Inf" if value > 0 else "-Inf"
    elif value == int(value) and abs(value) < 1e15:
        text = str(int(value))
    else:
        text = repr(float(value))
    return f"{name} {text}"


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, source: Source | None = None) -> None:
        self.name = name
        self.help = help_text
        self.values: dict[Labels, float] = {}
        self.source = source
        self._lock = Lock()

    def samples(self) -> Iterable[tuple[Labels, float]]:
        if self.source is not None:
            return [(_labels(labels), value) for labels, value in self.source()]
        with self._lock:
            return list(self.values.items())

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        lines.extend(_format(self.name, labels, value) for labels, value in self.samples())
        return lines


class Counter(_Metric):
    kind = "counter"

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = _labels(labels)
        with self._lock:
            self.values[key] = self.values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self.values.get(_labels(labels), 0.0)


class Gauge(_Metric):
    kind = "gauge"

    def set(self, value: float, **labels: str) -> None:
        with self._lock:
            self.values[_labels(labels)] = value

    def value(self, **labels: str) -> float:
        return dict(self.samples()).get(_labels(labels), 0.0)


_M = TypeVar("_M", bound=_Metric)


class Registry:
    def __init__(self) -> None:
        self.metrics: dict[str, _Metric] = {}
        self.prometheus: Any = None           # its prometheus_client registry, once asked

    def counter(self, name: str, help_text: str, source: Source | None = None) -> Counter:
        """A counter; with ``source``, its values are read from it at scrape time."""
        return self._metric(Counter, name, help_text, source)

    def gauge(self, name: str, help_text: str, source: Source | None = None) -> Gauge:
        """A gauge; with ``source``, its values are read from it at scrape time."""
        return self._metric(Gauge, name, help_text, source)

    def _metric(self, kind: type[_M], name: str, help_text: str, source: Source | None) -> _M:
        metric = self.metrics.get(name)
        if metric is None:
            metric = self.metrics[name] = kind(name, help_text, source)
        assert isinstance(metric, kind), f"{name} is already a {type(metric).__name__}"
        if source is not None:
            metric.source = source
        return metric

    def render(self) -> str:
        lines: list[str] = []
        for metric in self.metrics.values():
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"



class _Collector:
    """The :class:`Registry`'s series as ``prometheus_client`` metric families."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        for metric in list(self.registry.metrics.values()):
            samples = list(metric.samples())
            names = sorted({k for labels, _ in samples for k, _ in labels})
            family: CounterMetricFamily | GaugeMetricFamily
            if isinstance(metric, Counter):
                family = CounterMetricFamily(metric.name, metric.help, labels=names)
            else:
                family = GaugeMetricFamily(metric.name, metric.help, labels=names)
            for labels, value in samples:
                given = dict(labels)
                family.add_metric([given.get(n, "") for n in names], value)
            yield family


def exposition(registry: Registry, accept: str = "") -> tuple[bytes, str]:
    """The body and content type of a ``/metrics`` answer for an ``Accept`` header."""
    from prometheus_client import exposition as prometheus

    if registry.prometheus is None:
        registry.prometheus = _prometheus_registry(registry)
    encoder, content_type = prometheus.choose_encoder(accept)
    return encoder(registry.prometheus), content_type


def _prometheus_registry(registry: Registry) -> Any:
    import platform

    from prometheus_client import CollectorRegistry, Info, PlatformCollector, ProcessCollector

    from detector import __version__

    target = CollectorRegistry(auto_describe=True)
    target.register(_Collector(registry))
    ProcessCollector(registry=target)
    PlatformCollector(registry=target)
    Info("detector_build", "The detector's version and the Python it runs on.",
         registry=target).info({"version": __version__,
                                "python": platform.python_version()})
    return target

"""Prometheus metrics: counters and gauges with labels, rendered in the text format.

Deliberately small: the detector exports a few dozen series, updated from one
event loop, and rendered on scrape. Gauges may be backed by a callback so that
values such as outbox depth are read at scrape time, never kept in two places.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from threading import Lock
from typing import TypeVar

__all__ = ["Counter", "Gauge", "Registry"]

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


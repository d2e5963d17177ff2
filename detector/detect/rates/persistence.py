"""The rate detector's keys to and from versioned JSON: all of them (the state file), or
those of some services (the state that follows Kafka partitions between processes)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from detector.config import DetectConfig
from detector.detect.rates.key import SLOW_HALF_LIFE, Key, Series, rescaled
from detector.errors import StateError

__all__ = ["SNAPSHOT_VERSION", "RatePersistence"]

SNAPSHOT_VERSION = 2


class RatePersistence:
    """Snapshot and restore for :class:`~detector.detect.rates.detector.RateDetector`."""

    config: DetectConfig
    bucket: float
    window_buckets: int
    window_seconds: float
    scales: list[int]
    record_series: bool
    fading: float
    slow_fading: float
    keys: dict[tuple[str, str], Key]
    services: dict[str, float]

    def _evict(self) -> None:
        raise NotImplementedError

    def snapshot(self) -> dict[str, Any]:
        return {"version": SNAPSHOT_VERSION, "bucket": self.bucket,
                "window_buckets": self.window_buckets, "services": self.services,
                "keys": [k.to_json() for k in self.keys.values()]}

    def snapshot_services(self, services: Collection[str]) -> dict[str, Any]:
        """:meth:`snapshot` of the keys of ``services`` only."""
        wanted = set(services)
        return {"version": SNAPSHOT_VERSION, "bucket": self.bucket,
                "window_buckets": self.window_buckets,
                "services": {s: t for s, t in self.services.items() if s in wanted},
                "keys": [k.to_json() for (s, _), k in self.keys.items() if s in wanted]}

    def restore_services(self, data: dict[str, Any]) -> None:
        """The keys of the services in ``data`` replace this detector's keys for them
        (older ones are evicted past ``rate_max_keys``)."""
        try:
            named = {str(s) for s in data["services"]} | {
                str(k["service"]) for k in data["keys"]}
        except (KeyError, TypeError) as exc:
            raise StateError(f"rates: {exc!r}") from None
        previous = self.keys, self.services
        self.keys = {name: key for name, key in self.keys.items() if name[0] not in named}
        self.services = {s: t for s, t in self.services.items() if s not in named}
        try:
            self.restore(data)
        except StateError:
            self.keys, self.services = previous
            raise
        while len(self.keys) > self.config.rate_max_keys:
            self._evict()

    def forget_services(self, services: Collection[str]) -> None:
        gone = set(services)
        self.keys = {name: key for name, key in self.keys.items() if name[0] not in gone}
        for service in gone:
            self.services.pop(service, None)

    def restore(self, data: dict[str, Any]) -> None:
        """Keys from :meth:`snapshot` (this version, or version 1: 0.1.0's and 0.2.0's,
        which learn a slow level and a profile from here on). Saved under another
        ``bucket`` or ``rate_window``, each key keeps its baselines (rescaled to the new
        window) and its profile, and starts its windows afresh."""
        if data.get("version") not in (1, SNAPSHOT_VERSION):
            raise StateError(f"rates: unknown snapshot version {data.get('version')!r}")
        try:
            bucket = float(data["bucket"])
            whole = bucket == self.bucket and data["window_buckets"] == self.window_buckets
            saved_window = bucket * data["window_buckets"]
            keys = []
            for saved in data["keys"]:
                if not whole:
                    saved = rescaled(saved, saved_window, self.window_seconds, self.bucket,
                                     {"moments": self.config.rate_half_life,
                                      "slow": SLOW_HALF_LIFE})
                key = Key.from_json(saved, self.fading, self.slow_fading, self.window_buckets,
                                    tuple(self.scales), whole=whole)
                key.series = Series() if self.record_series else None
                key.resum()
                keys.append(key)
            services = {str(s): float(t) for s, t in data["services"].items()}
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            raise StateError(f"rates: {exc!r}") from None
        self.services.update(services)
        for key in keys:
            self.keys[(key.service, key.cls)] = key


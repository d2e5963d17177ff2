"""Reading what detector 0.1.0 left in the state directory: ``rates.pickle``.

0.1.0 pickled the rate detector's keys (dataclasses holding river objects) with
their raw sample lines. The pickle is read once with a restricted unpickler —
detector classes become plain attribute holders, only river's statistics and a
few stdlib containers are loaded as themselves — converted to the rate
detector's versioned JSON snapshot (samples redacted), written as
``rates.json``, and removed, so no raw log text stays on disk.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import structlog

from detector.daemon.state import StateDir
from detector.redact import redact

__all__ = ["migrate_rates"]

log = structlog.get_logger("detector.state")
LEGACY_RATES = "rates.pickle"
_ALLOWED = {("collections", "deque"), ("collections", "Counter"), ("builtins", "set"),
            ("builtins", "frozenset")}


class _Saved:
    """Stands in for a 0.1.0 dataclass: keeps its attributes."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("detector."):
            return type(name, (_Saved,), {})
        if module.startswith("river.") or (module, name) in _ALLOWED or module == "copyreg":
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a 0.1.0 state file")


def _key(saved: Any) -> dict[str, Any]:
    mean = float(saved.mean.get())
    variance = float(saved.var.get())
    spike = saved.spike
    return {
        "service": saved.service, "class": saved.cls, "created": saved.created,
        "window_buckets": saved.window_buckets, "closed_through": saved.closed_through,
        "moments": [mean, variance + mean * mean], "learned": saved.learned,
        "open": [[int(i), int(n)] for i, n in saved.open.items()],
        "recent": [int(n) for n in saved.recent], "learning_count": saved.learning_count,
        "spike": None if spike is None else {
            "start": spike.start, "baseline": spike.baseline, "peak": spike.peak,
            "events": spike.events, "quiet": spike.quiet, "adapted": spike.adapted},
        "held": [int(n) for n in saved.held], "pending": [int(n) for n in saved.pending],
        "spans": [list(span) for span in saved.spans], "last_event": saved.last_event,
        "samples": [redact(s) for s in saved.samples], "patterns": dict(saved.patterns),
    }


def migrate_rates(state: StateDir, bucket: float) -> bool:
    """Turn a 0.1.0 ``rates.pickle`` into ``rates.json``; True if one was migrated."""
    data = state.read_bytes(LEGACY_RATES)
    if data is None:
        return False
    try:
        saved = _Unpickler(io.BytesIO(data)).load()
        keys = [_key(k) for k in saved["keys"]]
        window_buckets = keys[0]["window_buckets"] if keys else 1
        snapshot = {"version": 1, "bucket": bucket, "window_buckets": window_buckets,
                    "services": {str(s): float(t) for s, t in saved["services"].items()},
                    "keys": keys}
    except Exception as exc:            # anything in a foreign pickle: set it aside
        state.set_aside(LEGACY_RATES, f"cannot read 0.1.0 rates: {exc!r}")
        return False
    if state.read_bytes("rates.json") is None:
        state.write_json("rates.json", snapshot)
    (state.path / LEGACY_RATES).unlink()
    log.info("state.migrated", file=LEGACY_RATES, to="rates.json", keys=len(keys))
    return True


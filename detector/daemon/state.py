"""The state directory: files written whole or not at all.

Each file is written to a temporary name, fsynced, renamed over the old one, and
the directory fsynced, so a crash at any moment leaves the old version or the
new one, never half of either.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import orjson

__all__ = ["StateDir"]


class StateDir:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    def write_bytes(self, name: str, data: bytes) -> None:
        target = self.path / name
        temporary = target.with_name(f".{name}.{os.getpid()}.tmp")
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        directory = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def read_bytes(self, name: str) -> bytes | None:
        try:
            return (self.path / name).read_bytes()
        except FileNotFoundError:
            return None

    def write_json(self, name: str, value: Any) -> None:
        self.write_bytes(name, orjson.dumps(value))

    def read_json(self, name: str) -> Any:
        data = self.read_bytes(name)
        return None if data is None else orjson.loads(data)

    def write_pickle(self, name: str, value: Any) -> None:
        self.write_bytes(name, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))

    def read_pickle(self, name: str) -> Any:
        data = self.read_bytes(name)
        return None if data is None else pickle.loads(data)

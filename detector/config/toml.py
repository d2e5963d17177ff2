"""Typed, located reading of parsed TOML tables.

``Table`` wraps one parsed table with the file it came from and the line of
every key, hands out typed values, substitutes ``${VAR}`` from the environment
in strings, and refuses keys nobody asked for: unknown keys are errors.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from detector.config.keylines import KeyLines
from detector.errors import ConfigError

T = TypeVar("T")

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1000, "kib": 1024, "mb": 10**6, "mib": 2**20,
               "gb": 10**9, "gib": 2**30, None: 1}


def parse_duration(text: str) -> float | None:
    """Seconds from ``"10m"``, ``"30s"``, ``"1.5h"``, ``"2d"``, ``"250ms"`` or a bare number;
    ``None`` when ``text`` is none of these."""
    match = _DURATION.match(text)
    if not match:
        return None
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    return seconds if math.isfinite(seconds) else None


def load_toml(path: Path) -> tuple[dict[str, Any], KeyLines]:
    """Parse a TOML file; syntax errors become ``file:line: problem``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, None, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, None, f"cannot read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = re.search(r"\(at line (\d+), column \d+\)", message)
        line = int(match.group(1)) if match else None
        problem = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
        problem = re.sub(r"\s*\(at end of document\)", " at end of document", problem)
        raise ConfigError(path, line, f"invalid TOML: {problem}") from None
    return data, KeyLines(text)


class Table:
    """One TOML table being read; call :meth:`done` to reject what was not read."""

    def __init__(self, data: Mapping[str, Any], where: tuple[str | int, ...],
                 path: Path, lines: KeyLines, *, env: Mapping[str, str] | None = None,
                 expand: bool = True) -> None:
        self.data = data
        self.expand = expand
        self.where = where
        self.path = path
        self.lines = lines
        self.env = os.environ if env is None else env
        self._seen: set[str] = set()

    # -- errors -----------------------------------------------------------------
    def error(self, key: str | None, problem: str) -> ConfigError:
        where = (*self.where, key) if key is not None else self.where
        return ConfigError(self.path, self.lines.line(where), problem)

    def name(self, key: str) -> str:
        parts = [p for p in self.where if isinstance(p, str)]
        return ".".join([*parts, key])

    def line(self) -> int | None:
        return self.lines.line(self.where)

    # -- typed access -------------------------------------------------------------
    def has(self, key: str) -> bool:
        return key in self.data

    def __iter__(self) -> Iterator[str]:
        """The keys present (each still has to be read, or ``done`` rejects it)."""
        return iter(list(self.data))

    def raw(self, key: str) -> Any:
        self._seen.add(key)
        return self.data.get(key)

    def text(self, key: str, default: T, *, required: bool = False) -> str | T:
        self._seen.add(key)
        if key not in self.data:
            if required:
                raise self.error(None, f"missing required key {self.name(key)!r}")
            return default
        value = self.data[key]
        if not isinstance(value, str):
            raise self.error(key, f"{self.name(key)} must be a string, not {_kind(value)}")
        return self._expand(key, value)

    def required_str(self, key: str) -> str:
        value = self.text(key, "", required=True)
        if not value:
            raise self.error(key, f"{self.name(key)} must not be empty")
        return value

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(key, default)
        if value not in choices:
            raise self.error(key, f"{self.name(key)} must be one of {', '.join(choices)}; "
                                  f"got {value!r}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        self._seen.add(key)
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"{self.name(key)} must be true or false, not {_kind(value)}")
        return value

    def integer(self, key: str, default: int, *, minimum: int | None = None) -> int:
        self._seen.add(key)
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"{self.name(key)} must be an integer, not {_kind(value)}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"{self.name(key)} must be at least {minimum}; got {value}")
        return value

    def number(self, key: str, default: float, *, minimum: float | None = None) -> float:
        self._seen.add(key)
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"{self.name(key)} must be a number, not {_kind(value)}")
        if not math.isfinite(value):
            raise self.error(key, f"{self.name(key)} must be a finite number; got {value!r}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"{self.name(key)} must be at least {minimum}; got {value}")
        return float(value)

    def duration(self, key: str, default: float, *, minimum: float = 0.0) -> float:
        """Seconds, from ``"10m"``, ``"30s"``, ``"1.5h"``, ``"250ms"`` or a bare number."""
        self._seen.add(key)
        if key not in self.data:
            return default
        value = self.data[key]
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
        elif isinstance(value, str):
            match = _DURATION.match(self._expand(key, value))
            if not match:
                raise self.error(key, f"{self.name(key)} must be a duration like \"30s\", "
                                      f"\"10m\" or \"1h\"; got {value!r}")
            seconds = float(match.group(1)) * _UNITS[match.group(2)]
        else:
            raise self.error(key, f"{self.name(key)} must be a duration, not {_kind(value)}")
        if not math.isfinite(seconds):
            raise self.error(key, f"{self.name(key)} must be a finite duration; got {value!r}")
        if seconds < minimum:
            raise self.error(key, f"{self.name(key)} must be at least {minimum:g}s")
        return seconds

    def size(self, key: str, default: int) -> int:
        """Bytes, from ``"1MiB"``, ``"512KB"`` or a bare integer."""
        self._seen.add(key)
        if key not in self.data:
            return default
        value = self.data[key]
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        if isinstance(value, str):
            match = _SIZE.match(value)
            if match:
                size = int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "").lower() or None]
                if size > 0:
                    return size
        raise self.error(key, f"{self.name(key)} must be a size above zero like \"1MiB\"; "
                              f"got {value!r}")

    def str_list(self, key: str, default: list[str] | None = None) -> list[str]:
        self._seen.add(key)
        if key not in self.data:
            return list(default or [])
        value = self.data[key]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, f"{self.name(key)} must be a list of strings")
        return [self._expand(key, v) for v in value]

    def str_map(self, key: str) -> dict[str, str]:
        self._seen.add(key)
        value = self.data.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self.error(key, f"{self.name(key)} must be a table of strings")
        return {k: self._expand(key, v) for k, v in value.items()}

    def table(self, key: str) -> Table:
        self._seen.add(key)
        value = self.data.get(key, {})
        if not isinstance(value, dict):
            raise self.error(key, f"{self.name(key)} must be a table, not {_kind(value)}")
        return Table(value, (*self.where, key), self.path, self.lines, env=self.env,
                     expand=self.expand)

    def tables(self, key: str) -> Iterator[Table]:
        """The elements of an array of tables ``[[key]]``."""
        self._seen.add(key)
        value = self.data.get(key, [])
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.error(key, f"{key} must be an array of tables ([[{key}]])")
        for index, item in enumerate(value):
            yield Table(item, (*self.where, key, index), self.path, self.lines, env=self.env,
                        expand=self.expand)

    def done(self) -> None:
        """Reject every key that no reader asked for."""
        for key in self.data:
            if key not in self._seen:
                known = sorted(self._seen)
                hint = f" (known keys: {', '.join(known)})" if known else ""
                raise self.error(key, f"unknown key {self.name(key)!r}{hint}")

    # -- environment --------------------------------------------------------------
    def _expand(self, key: str, value: str) -> str:
        def substitute(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name, default = match.group(1), match.group(2)
            if name in self.env:
                return self.env[name]
            if default is not None:
                return default
            raise self.error(key, f"environment variable {name} is not set "
                                  f"(used by {self.name(key)})")
        return _ENV.sub(substitute, value) if self.expand and "$" in value else value


def _kind(value: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)

"""Configuration: one TOML file, read once into frozen dataclasses.

Every key is checked when the file is loaded (types, choices, durations,
``${VAR}`` from the environment); unknown keys are errors that name the file and
line. Nothing downstream re-checks. With no file at all, the defaults describe a
useful detector: every shipped pattern pack, no notifiers, rate detection on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from detector.config.notify import NotifyConfig, read_notify
from detector.config.operating import (
    MaintenanceConfig,
    Matchers,
    RunbookConfig,
    read_maintenance,
    read_runbook,
)
from detector.config.sources import (
    CloudWatchSourceConfig,
    DockerSourceConfig,
    FileSourceConfig,
    KafkaSourceConfig,
    LokiSourceConfig,
    SourceConfig,
    StdinSourceConfig,
    read_source,
)
from detector.config.toml import Table, load_toml

__all__ = [
    "CloudWatchSourceConfig",
    "Config",
    "DetectConfig",
    "DockerSourceConfig",
    "FileSourceConfig",
    "HttpConfig",
    "KafkaSourceConfig",
    "LogConfig",
    "LokiSourceConfig",
    "MaintenanceConfig",
    "Matchers",
    "NotifyConfig",
    "PatternsConfig",
    "RunbookConfig",
    "SourceConfig",
    "StateConfig",
    "StdinSourceConfig",
    "load_config",
]


@dataclass(frozen=True)
class StateConfig:
    dir: Path
    history: float = 30 * 86400.0         # resolved incidents are kept this long


@dataclass(frozen=True)
class PatternsConfig:
    paths: tuple[Path, ...] = ()          # extra packs, added to the shipped ones
    disable: tuple[str, ...] = ()         # pattern ids or classes switched off
    shipped: bool = True                  # load the packs that ship with detector
    regex_timeout: float = 0.1            # a confirm match running longer is abandoned


@dataclass(frozen=True)
class DetectConfig:
    resolve_after: float = 600.0          # quiet time before an incident resolves
    update_interval: float = 300.0        # at most one `update` per incident this often
    lateness: float = 30.0                # how late (event time) a line may be and still count
    max_clock_jump: float = 86400.0       # a timestamp this far ahead is doubted until confirmed
    rates: bool = True
    bucket: float = 10.0                  # rate counting bucket
    rate_window: float = 60.0             # the learning window, also judged on its own
    rate_scales: tuple[float, ...] = (300.0, 600.0, 1800.0)   # longer windows judged too
    rate_half_life: float = 1800.0        # how fast the learned baseline follows change
    rate_grace: float = 1800.0            # a key is learned this long before any verdict
    rate_min_count: int = 5               # fewer events in the window is never a spike
    rate_min_ratio: float = 2.5           # and the rate must be this many times the baseline
    rate_sensitivity: float = 5e-7        # tail probability below which the window is a spike
    rate_adapt_after: float = 3600.0      # a spike lasting this long becomes the new normal
    rate_max_keys: int = 10000            # bound on (service, class) keys kept
    novelty: bool = True
    novelty_warmup: float = 3600.0        # a service's first hour teaches, never alarms
    novelty_max_templates: int = 5000     # per service
    novelty_expiry: float = 30 * 86400.0  # a template unseen this long is forgotten


@dataclass(frozen=True)
class HttpConfig:
    listen: str | None = "127.0.0.1:9464"   # None: no HTTP endpoint
    token: str | None = None                # bearer token; required for writes beyond loopback
    token_for_reads: bool = False           # reads need the token too (but /healthz)
    max_connections: int = 256              # more are refused; the longest idle is cut first

    @property
    def loopback(self) -> bool:
        """Whether the endpoint listens on loopback only."""
        if not self.listen:
            return True
        host = self.listen.rpartition(":")[0].strip("[]")
        return host in ("localhost", "::1") or host.startswith("127.")


@dataclass(frozen=True)
class LogConfig:
    level: str = "info"
    format: str = "auto"                  # auto: console on a TTY, JSON otherwise


@dataclass(frozen=True)
class Config:
    path: Path | None
    state: StateConfig
    patterns: PatternsConfig = PatternsConfig()
    detect: DetectConfig = DetectConfig()
    http: HttpConfig = HttpConfig()
    log: LogConfig = LogConfig()
    sources: tuple[SourceConfig, ...] = ()
    notify: tuple[NotifyConfig, ...] = field(default=())
    maintenance: tuple[MaintenanceConfig, ...] = ()
    runbooks: tuple[RunbookConfig, ...] = ()


def default_state_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    state = env.get("STATE_DIRECTORY")
    if state:
        return Path(state.split(":")[0])
    return Path(".detector-state")


def default_config(env: Mapping[str, str] | None = None) -> Config:
    return Config(path=None, state=StateConfig(dir=default_state_dir(env)))


def load_config(path: Path | str | None, env: Mapping[str, str] | None = None) -> Config:
    """Read and check a config file; ``None`` gives the built-in defaults."""
    if path is None:
        return default_config(env)
    path = Path(path)
    data, lines = load_toml(path)
    top = Table(data, (), path, lines, env=env)
    base = path.parent

    state = top.table("state")
    state_dir = state.text("dir", "")
    state_config = StateConfig(dir=Path(state_dir).expanduser() if state_dir
                               else default_state_dir(env),
                               history=state.duration("history", 30 * 86400.0, minimum=3600.0))
    state.done()

    patterns = top.table("patterns")
    patterns_config = PatternsConfig(
        paths=tuple(_relative(base, p) for p in patterns.str_list("paths")),
        disable=tuple(patterns.str_list("disable")),
        shipped=patterns.flag("shipped", True),
        regex_timeout=patterns.duration("regex_timeout", 0.1, minimum=0.001),
    )
    patterns.done()

    detect_config = _read_detect(top.table("detect"))

    http = top.table("http")
    listen = http.text("listen", "127.0.0.1:9464")
    if listen:
        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise http.error("listen", f"http.listen must be host:port; got {listen!r}")
    token = http.text("token", "")
    if token and (len(token) < 16 or any(c.isspace() for c in token)):
        raise http.error("token", "http.token must be at least 16 characters, without "
                                  "spaces (for example from `openssl rand -hex 24`)")
    reads = http.flag("token_for_reads", False)
    if reads and not token:
        raise http.error("token_for_reads", "http.token_for_reads needs http.token")
    http_config = HttpConfig(listen=listen or None, token=token or None, token_for_reads=reads,
                             max_connections=http.integer("max_connections", 256, minimum=1))
    http.done()

    log = top.table("log")
    log_config = LogConfig(
        level=log.choice("level", "info", ("debug", "info", "warning", "error")),
        format=log.choice("format", "auto", ("auto", "json", "console")),
    )
    log.done()

    sources = tuple(read_source(t, i) for i, t in enumerate(top.tables("source")))
    _unique_names(top, "source", [s.name for s in sources], [s.line for s in sources])
    notify = tuple(read_notify(t, i) for i, t in enumerate(top.tables("notify")))
    _unique_names(top, "notify", [n.name for n in notify], [n.line for n in notify])
    maintenance = tuple(read_maintenance(t, i) for i, t in enumerate(top.tables("maintenance")))
    _unique_names(top, "maintenance", [m.name for m in maintenance],
                  [m.line for m in maintenance])
    runbooks = tuple(read_runbook(t, i) for i, t in enumerate(top.tables("runbook")))
    top.done()
    return Config(path=path, state=state_config, patterns=patterns_config,
                  detect=detect_config, http=http_config, log=log_config,
                  sources=sources, notify=notify, maintenance=maintenance, runbooks=runbooks)


def _read_detect(table: Table) -> DetectConfig:
    d = DetectConfig()
    config = DetectConfig(
        resolve_after=table.duration("resolve_after", d.resolve_after, minimum=1.0),
        update_interval=table.duration("update_interval", d.update_interval, minimum=0.0),
        lateness=table.duration("lateness", d.lateness),
        max_clock_jump=table.duration("max_clock_jump", d.max_clock_jump, minimum=60.0),
        rates=table.flag("rates", d.rates),
        bucket=table.duration("bucket", d.bucket, minimum=1.0),
        rate_window=table.duration("rate_window", d.rate_window, minimum=1.0),
        rate_scales=_durations(table, "rate_scales", d.rate_scales),
        rate_half_life=table.duration("rate_half_life", d.rate_half_life, minimum=60.0),
        rate_grace=table.duration("rate_grace", d.rate_grace),
        rate_min_count=table.integer("rate_min_count", d.rate_min_count, minimum=1),
        rate_min_ratio=table.number("rate_min_ratio", d.rate_min_ratio, minimum=1.0),
        rate_sensitivity=table.number("rate_sensitivity", d.rate_sensitivity, minimum=1e-300),
        rate_adapt_after=table.duration("rate_adapt_after", d.rate_adapt_after, minimum=60.0),
        rate_max_keys=table.integer("rate_max_keys", d.rate_max_keys, minimum=1),
        novelty=table.flag("novelty", d.novelty),
        novelty_warmup=table.duration("novelty_warmup", d.novelty_warmup),
        novelty_max_templates=table.integer("novelty_max_templates", d.novelty_max_templates,
                                        minimum=1),
        novelty_expiry=table.duration("novelty_expiry", d.novelty_expiry, minimum=60.0),
    )
    if config.rate_window < config.bucket:
        raise table.error("rate_window", "detect.rate_window must be at least detect.bucket")
    if config.rate_sensitivity >= 1:
        raise table.error("rate_sensitivity", "detect.rate_sensitivity must be below 1")
    if any(scale < config.rate_window for scale in config.rate_scales):
        raise table.error("rate_scales", "detect.rate_scales must each be at least "
                                         "detect.rate_window")
    if any(scale > 1440 * config.rate_window for scale in config.rate_scales):
        raise table.error("rate_scales", "detect.rate_scales must each be at most 1440 "
                                         "times detect.rate_window")
    table.done()
    return config


def _durations(table: Table, key: str, default: tuple[float, ...]) -> tuple[float, ...]:
    """A list of durations (``["5m", "10m", "30m"]``), each read as ``duration`` reads one."""
    values = table.raw(key)
    if values is None:
        return default
    if not isinstance(values, list):
        raise table.error(key, f"{table.name(key)} must be a list of durations like "
                               '["5m", "30m"]')
    one = [Table({key: value}, table.where, table.path, table.lines, env=table.env,
                 expand=table.expand) for value in values]
    return tuple(sorted(item.duration(key, 0.0, minimum=1.0) for item in one))


def _relative(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _unique_names(top: Table, kind: str, names: list[str], lines: list[int | None]) -> None:
    seen: set[str] = set()
    for name, line in zip(names, lines, strict=True):
        if name in seen:
            raise top.error(kind, f"two [[{kind}]] tables are named {name!r}; names must "
                                  f"be unique" + (f" (second at line {line})" if line else ""))
        seen.add(name)

"""Building the parts every command needs from a config, once."""

from __future__ import annotations

import os
from pathlib import Path

from detector.clock import EventClock
from detector.config import Config
from detector.detect.base import Detector
from detector.detect.novelty import NoveltyDetector
from detector.detect.rates import RateDetector
from detector.incidents import IncidentTracker
from detector.match.engine import Engine, build_engine
from detector.match.knowledge import knowledge_files, load_classes, load_knowledge
from detector.match.packs import Pattern, load_packs, shipped_packs_dir
from detector.pipeline import Pipeline, Sink
from detector.runbooks import Runbooks

__all__ = ["build_pipeline", "cache_dir", "load_patterns", "make_engine"]


def load_patterns(config: Config) -> list[Pattern]:
    shipped = shipped_packs_dir()
    paths = ([shipped] if config.patterns.shipped else []) + list(config.patterns.paths)
    return load_packs(paths, disable=config.patterns.disable, strict=[shipped],
                      cache=cache_dir())


def cache_dir() -> Path | None:
    """Where compiled hyperscan databases are kept between runs (None: don't)."""
    base = os.environ.get("DETECTOR_CACHE_DIR") or os.environ.get("CACHE_DIRECTORY")
    if base:
        return Path(base.split(":")[0])
    xdg = os.environ.get("XDG_CACHE_HOME")
    home = Path(xdg) if xdg else Path.home() / ".cache"
    path = home / "detector"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return path if os.access(path, os.W_OK) else None


def make_engine(config: Config, patterns: list[Pattern], engine: str = "auto") -> Engine:
    """The engine for ``patterns``, with the shipped exception knowledge base (its classes
    follow ``[patterns] disable`` and ``shipped``)."""
    knowledge, by_class = None, None
    if config.patterns.shipped:
        folder = shipped_packs_dir() / "knowledge"
        disabled = set(config.patterns.disable)
        by_class = {cls: p for cls, p in load_classes(folder / "classes.toml").items()
                    if cls not in disabled}
        knowledge = load_knowledge(knowledge_files(folder), by_class)
    return build_engine(patterns, engine=engine, regex_timeout=config.patterns.regex_timeout,
                        cache_dir=cache_dir(), knowledge=knowledge, by_class=by_class)


def build_pipeline(config: Config, engine: Engine, sink: Sink, *, live: bool,
                   record_series: bool = False) -> Pipeline:
    """The pipeline, with the rate and novelty detectors the config turns on."""
    detect = config.detect
    tracker = IncidentTracker(resolve_after=detect.resolve_after,
                              update_interval=detect.update_interval)
    clock = EventClock(live=live, lateness=detect.lateness,
                       max_clock_jump=detect.max_clock_jump)
    detectors: list[Detector] = []
    if detect.rates:
        detectors.append(RateDetector(detect, record_series=record_series))
    if detect.novelty:
        detectors.append(NoveltyDetector(detect))
    return Pipeline(engine, tracker, clock, sink, detectors,
                    Runbooks(engine.patterns, engine.by_class, config.runbooks))

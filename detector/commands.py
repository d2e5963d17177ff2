"""``detector validate``, ``detector patterns list|test`` and ``detector health``."""

from __future__ import annotations

import sys
from typing import TextIO

from detector.build import load_patterns, make_engine
from detector.config import Config
from detector.errors import UserError
from detector.match.examples import check_examples
from detector.model import LEVEL_NAMES

__all__ = ["health", "patterns_list", "patterns_test", "validate"]


def validate(config: Config, *, engine: str = "auto", out: TextIO | None = None,
             err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    patterns = load_patterns(config)
    built = make_engine(config, patterns, engine)
    problems = check_examples(built)
    for problem in problems:
        err.write(problem.located() + "\n")
    if problems:
        return 2
    packs = {p.pack for p in patterns}
    examples = sum(len(p.examples_match) + len(p.examples_no_match) for p in patterns)
    where = str(config.path) if config.path else "built-in defaults"
    out.write(f"{where}: ok — {len(patterns)} patterns in {len(packs)} packs, "
              f"{len(config.sources)} sources, {len(config.notify)} notifiers; "
              f"{examples} examples hold (engine {built.name})\n")
    return 0


def patterns_list(config: Config, *, cls: str | None = None,
                  out: TextIO | None = None) -> int:
    out = out or sys.stdout
    patterns = [p for p in load_patterns(config) if cls is None or p.cls == cls]
    if not patterns:
        out.write("No patterns.\n")
        return 0
    width_id = max(len(p.id) for p in patterns)
    width_cls = max(len(p.cls) for p in patterns)
    out.write(f"{'ID'.ljust(width_id)}  {'CLASS'.ljust(width_cls)}  SEVERITY  TITLE\n")
    for pattern in sorted(patterns, key=lambda p: (p.cls, p.id)):
        out.write(f"{pattern.id.ljust(width_id)}  {pattern.cls.ljust(width_cls)}  "
                  f"{pattern.severity.ljust(8)}  {pattern.title}\n")
    out.write(f"\n{len(patterns)} patterns\n")
    return 0


def patterns_test(config: Config, line: str, *, out: TextIO | None = None) -> int:
    """Show what the pipeline makes of ``line``: the winning pattern and every other hit."""
    out = out or sys.stdout
    engine = make_engine(config, load_patterns(config))
    winner = engine.classify_text(line)
    others = [p for p in engine.patterns
              if p is not (winner.pattern if winner else None) and p.regex.search(line)]
    if winner is None and not others:
        out.write("no pattern matches\n")
        return 1
    if winner is not None:
        pattern = winner.pattern
        out.write(f"{pattern.id}  class={pattern.cls}  severity={pattern.severity}  "
                  f"priority={pattern.priority}\n  {pattern.title}\n")
        for key, value in winner.fields.items():
            out.write(f"  {key} = {value!r}\n")
        if pattern.min_level:
            out.write(f"  (needs level {LEVEL_NAMES[pattern.min_level]} or above)\n")
        out.write(f"  runbook: {pattern.runbook.title}\n")
    for pattern in others:
        reason = ("lower priority" if winner is not None and pattern.priority
                  <= winner.pattern.priority else "level too low or outranked")
        out.write(f"also matches {pattern.id} (class={pattern.cls}; {reason})\n")
    return 0 if winner is not None else 1


def health_url(config: Config) -> str:
    """Where the running daemon of ``config`` answers ``/healthz``."""
    listen = config.http.listen
    if not listen:
        raise UserError(f"{config.path or 'the built-in defaults'}: the HTTP endpoint is off "
                        "([http] listen = \"\"), so there is no /healthz to ask")
    host, _, port = listen.rpartition(":")
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "[::]": "[::1]"}.get(host, host)
    return f"http://{host}:{port}/healthz"


def health(config: Config, *, url: str | None = None, timeout: float = 5.0,
           out: TextIO | None = None) -> int:
    """Ask a running daemon whether its sources are healthy: exit 0 if so, 1 if not.

    For container health checks: the image needs no curl.
    """
    import json
    import urllib.error
    import urllib.request

    out = out or sys.stdout
    url = url or health_url(config)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            body = answer.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
        if exc.code != 503:
            out.write(f"unhealthy: {url} answered {exc.code}\n")
            return 1
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        out.write(f"unreachable: {url}: {reason}\n")
        return 1
    try:
        report = json.loads(body)
        sources = report["sources"]
    except (ValueError, KeyError, TypeError):
        out.write(f"unhealthy: {url} did not answer like detector's /healthz\n")
        return 1
    if report.get("status") == "ok":
        out.write(f"ok: {len(sources)} sources healthy\n")
        return 0
    for name, state in sources.items():
        if not state.get("ok"):
            out.write(f"unhealthy: source {name}: {state.get('reason', 'unknown')}\n")
    return 1

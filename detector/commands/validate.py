"""``detector validate``: load the config and every pack, compile, run every example."""

from __future__ import annotations

import datetime as dt
import sys
import time
from typing import TextIO

from detector.build import load_patterns, make_engine
from detector.config import Config
from detector.humanize import plural
from detector.match.adversarial import slow_patterns
from detector.match.examples import check_examples
from detector.sources.file import no_match_warnings

__all__ = ["validate"]


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
    for pattern in slow_patterns(patterns, config.patterns.regex_timeout):
        err.write(f"warning: {pattern.where()}: pattern {pattern.id}: its regex ran past "
                  f"{config.patterns.regex_timeout:g}s on a hostile line (catastrophic "
                  "backtracking?); at run time the timeout stops it, but rewrite it\n")
    for warning in no_match_warnings(config):
        err.write(f"warning: {warning}\n")
    where = str(config.path) if config.path else "built-in defaults"
    http = config.http
    if http.listen and not http.loopback and http.token is None:
        err.write(f"warning: {where}: [http] listen = {http.listen!r} is beyond loopback and "
                  "no [http] token is set: anyone who can reach it reads incidents, and the "
                  "silence API refuses every write; set token = \"${DETECTOR_HTTP_TOKEN}\"\n")
    packs = {p.pack for p in patterns}
    examples = sum(len(p.examples_match) + len(p.examples_no_match) for p in patterns)
    out.write(f"{where}: ok — {plural(len(patterns), 'pattern')} in "
              f"{plural(len(packs), 'pack')}, {plural(len(config.sources), 'source')}, "
              f"{plural(len(config.notify), 'notifier')}; "
              f"{plural(examples, 'example')} hold (engine {built.name})\n")
    now = time.time()
    for window in config.maintenance:
        upcoming = window.next_window(now)
        if upcoming is None:
            when = "no window ahead (it is over)"
        else:
            zone = window.zone
            start = dt.datetime.fromtimestamp(upcoming[0], zone)
            end = dt.datetime.fromtimestamp(upcoming[1], zone)
            state = "on now, until" if upcoming[0] <= now else "next"
            when = (f"{state} {start:%a %Y-%m-%d %H:%M} → {end:%a %Y-%m-%d %H:%M} "
                    f"{window.timezone}" if upcoming[0] > now else
                    f"{state} {end:%a %Y-%m-%d %H:%M} {window.timezone}")
        out.write(f"maintenance {window.name}: {window.describe()}, "
                  f"{window.match.describe()}; {when}\n")
    return 0

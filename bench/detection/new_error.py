"""Evaluation of ``new_error`` detection on real background traffic with injected errors.

Each service's normal traffic is one Loghub-2k dataset (its 2,000 real messages in
their order, spread over the run, each with a time, ``ERROR`` and a logger prefix in
front, all error-level so that every line could raise a false alarm). Into it go:

- known errors: shapes the service logs during its warm-up that keep recurring with
  other values (ids, numbers, hosts, users): any ``new_error`` on them is false;
- new errors: shapes the service never logged, each first seen after the warm-up and
  recurring later with other values: the first occurrence must open a ``new_error``
  (recall), a recurrence must not count as new again (false alarm).

The real ``NoveltyDetector`` (default ``[detect]`` settings) sees the lines in time
order. A background line's truth is its Loghub event: a ``new_error`` on a line whose
event the service already showed is a false alarm (one shape split in two); on the
first line of an event never seen before it is a true new shape of the real log,
reported apart. False alarms are given per service-day.

    python bench/detection/new_error.py [DATA_DIR] [--days 2] [--baseline REV]

``--baseline REV`` runs the same scenario with the template miner of that revision
(``detector/detect/templates.py`` as of REV). Writes bench/out/new_error.md.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import templates as loghub  # noqa: E402  (bench/templates.py)

from detector.config import DetectConfig  # noqa: E402
from detector.detect import novelty  # noqa: E402
from detector.incidents import IncidentTracker  # noqa: E402
from detector.model import ERROR, Event  # noqa: E402

DAY = 86400.0
START = 1795132800.0                     # 2026-11-20T00:00:00Z
SERVICES = ("OpenStack", "Hadoop", "Spark", "Zookeeper", "HDFS", "OpenSSH", "Thunderbird",
            "Apache")
Fill = Callable[[random.Random], str]


def _hex(r: random.Random, n: int = 8) -> str:
    return "".join(r.choice("0123456789abcdef") for _ in range(n))


def _ip(r: random.Random) -> str:
    return f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"


def _user(r: random.Random) -> str:
    return r.choice(("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"))


def _host(r: random.Random) -> str:
    return f"{r.choice(('db', 'redis', 'api', 'queue'))}-{r.randint(1, 9)}.internal"


# Error shapes of Python services (wordings from real tracebacks and logs); several
# pairs differ by one word only: they are different errors and must stay apart.
SHAPES: list[Fill] = [
    lambda r: f"LockError: Unable to acquire lock on lock:bot:{_hex(r, 6)} after "
              f"{r.randint(1, 30)} seconds",
    lambda r: f"LockError: Unable to release lock on lock:bot:{_hex(r, 6)} after "
              f"{r.randint(1, 30)} seconds",
    lambda r: f"Connection refused by {_host(r)}:{r.randint(1000, 9999)}",
    lambda r: f"Connection reset by {_host(r)}:{r.randint(1000, 9999)}",
    lambda r: f"psycopg2.errors.DeadlockDetected: deadlock detected on relation "
              f"{r.randint(10000, 99999)}",
    lambda r: f"relation \"tenant_{r.randint(1, 99)}_orders\" does not exist",
    lambda r: f"KeyError: 'user_{r.randint(1, 9999)}'",
    lambda r: f"ValueError: invalid literal for int() with base 10: '{_hex(r, 4)}'",
    lambda r: f"Task was destroyed but it is pending! task: <Task pending name='Task-"
              f"{r.randint(1, 999)}' coro=<poll() running at /app/worker.py:{r.randint(1, 400)}>>",
    lambda r: f"Unclosed client session client_session: <aiohttp.client.ClientSession object "
              f"at 0x7f{_hex(r, 10)}>",
    lambda r: f"429 Too Many Requests for url https://api.exchange.io/v3/order?id={_hex(r)}",
    lambda r: f"401 Unauthorized: token expired for user {_user(r)}",
    lambda r: f"403 Forbidden: token expired for user {_user(r)}",
    lambda r: f"ReadTimeout: HTTPSConnectionPool(host='{_host(r)}', port=443): Read timed out. "
              f"(read timeout={r.randint(5, 60)})",
    lambda r: f"OSError: [Errno 28] No space left on device: '/var/lib/app/{_hex(r)}.tmp'",
    lambda r: f"MemoryError while loading batch {r.randint(1, 9999)} of {r.randint(1, 99)} MB",
    lambda r: f"Job {_hex(r, 12)} failed after {r.randint(1, 9)} retries: upstream timeout",
    lambda r: f"Job {_hex(r, 12)} cancelled after {r.randint(1, 9)} retries: upstream timeout",
    lambda r: f"websocket connection to wss://stream.exchange.io:9443/ws/{_hex(r, 6)} closed "
              f"with code {r.choice((1006, 1011, 1001))}",
    lambda r: f"Invalid webhook signature from {_ip(r)} for event evt_{_hex(r, 10)}",
    lambda r: f"Multi-tenancy violation detected: query on orders without organization_id "
              f"(request {_hex(r, 16)})",
    lambda r: f"ImportError: cannot import name 'celery_app' from 'app.tasks' "
              f"(/srv/app/tasks/__init__.py) [worker {r.randint(1, 8)}]",
    lambda r: f"VersionConflictError: Bot {_hex(r, 6)} was modified by another process "
              f"(version {r.randint(1, 99)})",
    lambda r: f"Payment {r.randint(10000, 99999)} declined by provider: insufficient funds",
    lambda r: f"Payment {r.randint(10000, 99999)} declined by provider: card expired",
    lambda r: f"Cache miss storm on key user:{r.randint(1, 99999)}:profile "
              f"({r.randint(100, 999)} misses/s)",
    lambda r: f"Failed to send e-mail to {_user(r)}@example.com: SMTP 554 rejected",
    lambda r: f"Retrying request {_hex(r)} to {_host(r)} in {r.randint(1, 60)} s "
              f"(attempt {r.randint(2, 5)} of 5)",
]
KNOWN = 8                 # per service: shapes logged during the warm-up, recurring after
NEW = 10                  # per service: shapes first logged after the warm-up
RECURRENCES = 4           # later occurrences of each injected shape, with other values


@dataclass
class Line:
    time: float
    text: str
    kind: str             # "background", "known", "new"
    key: str              # the truth: Loghub event id, or the injected shape's index
    first: bool = False   # the first occurrence of an injected new shape


@dataclass
class Score:
    service: str
    days: float
    lines: int = 0
    background_new: int = 0          # background lines of an event the service never showed
    background_new_caught: int = 0
    background_false: int = 0        # new_error on a background event already shown
    known_lines: int = 0
    known_false: int = 0
    new_shapes: int = 0
    new_caught: int = 0
    new_recurrences: int = 0
    new_false: int = 0               # a recurrence of an injected shape counted new again
    extra: list[str] = field(default_factory=list)

    @property
    def false_alarms(self) -> int:
        return self.background_false + self.known_false + self.new_false


def scenario(service: str, messages: list[str], truth: list[str], days: float,
             shapes: list[Fill], rng: random.Random, warmup: float) -> list[Line]:
    span = days * DAY
    stamps = sorted(rng.uniform(0, span) for _ in messages)
    lines = [Line(START + t, m, "background", k) for t, m, k in zip(stamps, messages, truth,
                                                                    strict=True)]
    chosen = rng.sample(range(len(shapes)), KNOWN + NEW)
    for index in chosen[:KNOWN]:
        first = rng.uniform(60, warmup - 60)
        for t in [first] + [rng.uniform(warmup, span) for _ in range(RECURRENCES)]:
            lines.append(Line(START + t, shapes[index](rng), "known", f"s{index}"))
    for index in chosen[KNOWN:]:
        first = rng.uniform(warmup + 3600, span * 0.8)
        lines.append(Line(START + first, shapes[index](rng), "new", f"s{index}", first=True))
        for _ in range(RECURRENCES):
            lines.append(Line(START + rng.uniform(first + 1, span), shapes[index](rng), "new",
                              f"s{index}"))
    lines.sort(key=lambda line: line.time)
    return lines


def run(service: str, lines: list[Line], days: float) -> Score:
    config = DetectConfig()
    tracker = IncidentTracker(resolve_after=config.resolve_after,
                              update_interval=config.update_interval)
    detector = novelty.NoveltyDetector(config, tracker, lambda events: None)
    detector.seen(service, START)
    score = Score(service, days)
    seen: set[str] = set()
    for line in lines:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(line.time))
        text = f"{stamp},{int(line.time * 1000) % 1000:03d} ERROR {service.lower()}.main: " \
               f"{line.text}"
        before = detector.new
        detector.observe(Event(time=line.time, service=service, level=ERROR, text=text,
                               source="bench"), None, line.time)
        detector.advance(line.time)
        tracker.tick(line.time)
        alarm = detector.new > before
        score.lines += 1
        if line.kind == "background":
            fresh = line.key not in seen and line.time - START >= config.novelty_warmup
            if fresh:
                score.background_new += 1
                score.background_new_caught += alarm
            elif alarm and line.key in seen:
                score.background_false += 1
                if len(score.extra) < 5:
                    score.extra.append(line.text[:120])
        elif line.kind == "known":
            score.known_lines += line.time - START >= config.novelty_warmup
            score.known_false += alarm
        elif line.first:
            score.new_shapes += 1
            score.new_caught += alarm
        else:
            score.new_recurrences += 1
            score.new_false += alarm
        seen.add(line.key)
    return score


def evaluate(data_dir: Path, days: float, seed: int = 11) -> list[Score]:
    rng = random.Random(seed)
    warmup = DetectConfig().novelty_warmup
    scores = []
    for service in SERVICES:
        dataset = loghub.load(data_dir, service)
        lines = scenario(service, dataset.messages, dataset.truth, days, SHAPES, rng, warmup)
        scores.append(run(service, lines, days))
    return scores


def table(scores: list[Score]) -> list[str]:
    rows = ["| service | lines | injected new shapes caught | false alarms on recurrences of "
            "new shapes | on known errors | on background shapes already seen | false per "
            "service-day | real new background shapes flagged |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    total = Score("**all**", sum(s.days for s in scores))
    for s in [*scores, total]:
        if s is not total:
            for name in ("lines", "background_new", "background_new_caught",
                         "background_false", "known_lines", "known_false", "new_shapes",
                         "new_caught", "new_recurrences", "new_false"):
                setattr(total, name, getattr(total, name) + getattr(s, name))
        rows.append(f"| {s.service} | {s.lines:,} | {s.new_caught}/{s.new_shapes} | "
                    f"{s.new_false}/{s.new_recurrences} | {s.known_false}/{s.known_lines} | "
                    f"{s.background_false} | {s.false_alarms / s.days:.2f} | "
                    f"{s.background_new_caught}/{s.background_new} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", type=Path, help="the loghub-2k folder")
    parser.add_argument("--days", type=float, default=2.0)
    parser.add_argument("--baseline", metavar="REV",
                        help="also run the template miner of this git revision")
    args = parser.parse_args(argv)
    data_dir = args.data or loghub.default_data_dir()
    if data_dir is None or not data_dir.is_dir():
        parser.error("no Loghub-2k folder: pass its path")
    runs: list[tuple[str, Any]] = []
    if args.baseline:
        runs.append((f"template miner @ {args.baseline}", loghub.module_at(args.baseline)))
    runs.append(("template miner today", None))
    report = [f"New-error detection: {len(SERVICES)} services, Loghub-2k background "
              f"({', '.join(SERVICES)}), {args.days:g} days each, {KNOWN} known and {NEW} new "
              f"injected error shapes per service, each recurring {RECURRENCES}× "
              f"(`python bench/detection/new_error.py"
              f"{' --baseline ' + args.baseline if args.baseline else ''}`).\n"]
    original = (novelty.mask, novelty.TemplateTree)
    for title, module in runs:
        if module is not None:
            novelty.mask, novelty.TemplateTree = module.mask, module.TemplateTree
        try:
            scores = evaluate(data_dir, args.days)
        finally:
            novelty.mask, novelty.TemplateTree = original
        caught = sum(s.new_caught for s in scores)
        shapes = sum(s.new_shapes for s in scores)
        false = sum(s.false_alarms for s in scores)
        service_days = sum(s.days for s in scores)
        report += [f"**{title}**: new-error recall {caught}/{shapes} = {caught / shapes:.0%}, "
                   f"{false} false new-error alarms = {false / service_days:.2f} per "
                   "service-day.\n", *table(scores), ""]
    text = "\n".join(report) + "\n"
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "new_error.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Recognition on real excerpts: per-class recall, wrong class, false positives.

Each case of the corpus (tests/corpus/: log excerpts people posted in public issue
trackers and Q&A pages, verbatim, each with its URL and expected class; real
negatives; and the failures of the five seed guides) is replayed as its own file,
the way a user runs ``detector replay case.log``, with the default configuration.

* right: an incident of the expected class was opened;
* wrong: incidents were opened, none of the expected class;
* none: nothing was opened;
* extra: right, but an incident of another class was opened too;
* a negative is a false positive when anything is opened.

The corpus is split in two halves by URL (``--split dev`` / ``holdout``): work on
the dev half's misses, and check on the holdout half that the fix generalises.

    python bench/recognition.py                       # the whole table
    python bench/recognition.py --split dev --misses  # what to look at
    python bench/recognition.py --rev 86760dc         # the same corpus, an older detector
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import io
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
# --rev runs this script again with the package of an older commit first on the path
sys.path.insert(0, os.environ.get("DETECTOR_BENCH_ROOT", str(ROOT)))

from detector.build import load_patterns, make_engine  # noqa: E402
from detector.config import load_config  # noqa: E402
from detector.match.engine import Engine  # noqa: E402

try:
    from detector.replay.run import ReplayOptions, replay
except ImportError:                      # before the layout of 0.2 (one module)
    from detector.replay import ReplayOptions, replay  # type: ignore[no-redef]

TAKES_ENGINE = "engine" in inspect.signature(replay).parameters

CORPUS = ROOT / "tests" / "corpus"


@dataclass
class Case:
    kind: str                  # positive | negative | seed
    url: str
    text: str
    cls: str | None = None
    origin: str = ""
    failure: str = ""
    source: str = ""           # the corpus file

    @property
    def half(self) -> str:
        digest = hashlib.sha1(self.url.encode()).digest()[0]
        return "dev" if digest % 2 == 0 else "holdout"


@dataclass
class Outcome:
    case: Case
    classes: list[str] = field(default_factory=list)     # classes opened, in order
    summaries: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.case.kind == "negative":
            return "false_positive" if self.classes else "quiet"
        if self.case.cls in self.classes:
            return "right"
        return "wrong" if self.classes else "none"


def load_cases(corpus: Path = CORPUS) -> list[Case]:
    cases = []
    for kind in ("positive", "negative", "seeds"):
        for file in sorted((corpus / kind).glob("*.toml")):
            for item in tomllib.loads(file.read_text())["case"]:
                cases.append(Case(kind=kind.rstrip("s") if kind == "seeds" else kind,
                                  url=item["url"], text=item["text"], cls=item.get("class"),
                                  origin=item.get("origin", ""),
                                  failure=item.get("failure", ""), source=file.name))
    return cases


def run_case(case: Case, engine: Engine, workdir: Path) -> Outcome:
    config = load_config(None)
    path = workdir / "case.log"
    path.write_text(case.text if case.text.endswith("\n") else case.text + "\n")
    out = io.StringIO()
    given = {"engine": engine} if TAKES_ENGINE else {}     # older ones build their own
    replay(config, ReplayOptions(paths=[str(path)], output="jsonl"), out=out,
           err=io.StringIO(), **given)
    outcome = Outcome(case)
    for line in out.getvalue().splitlines():
        event = orjson.loads(line)
        if event["event"] == "open":
            outcome.classes.append(event["class"])
            outcome.summaries.append(event["summary"])
    return outcome


def run_all(cases: list[Case]) -> list[Outcome]:
    config = load_config(None)
    engine = make_engine(config, load_patterns(config))
    with tempfile.TemporaryDirectory() as work:
        return [run_case(case, engine, Path(work)) for case in cases]


def class_table(outcomes: list[Outcome]) -> tuple[list[str], dict[str, float]]:
    by_class: dict[str, Counter[str]] = defaultdict(Counter)
    for outcome in outcomes:
        verdict = outcome.verdict
        by_class[outcome.case.cls or "?"][verdict] += 1
        if verdict == "right" and len(set(outcome.classes)) > 1:
            by_class[outcome.case.cls or "?"]["extra"] += 1
    rows = ["| class | cases | right | wrong class | none | extra | recall |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    recalls = {}
    total: Counter[str] = Counter()
    for cls in sorted(by_class):
        c = by_class[cls]
        n = sum(c[v] for v in ("right", "wrong", "none"))
        recalls[cls] = c["right"] / n
        total.update(c)
        rows.append(f"| `{cls}` | {n} | {c['right']} | {c['wrong']} | {c['none']} | "
                    f"{c['extra']} | {100 * recalls[cls]:.1f} % |")
    n = sum(total[v] for v in ("right", "wrong", "none"))
    recalls["overall"] = total["right"] / n if n else 0.0
    rows.append(f"| **all** | {n} | {total['right']} | {total['wrong']} | {total['none']} | "
                f"{total['extra']} | **{100 * recalls['overall']:.1f} %** |")
    return rows, recalls


def seed_table(outcomes: list[Outcome]) -> tuple[list[str], int, int]:
    failures: dict[tuple[str, str], list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        failures[(outcome.case.source, outcome.case.failure)].append(outcome)
    rows = ["| guide | detectable failures | recognised (every case) | cases | cases right |",
            "|---|---:|---:|---:|---:|"]
    total_failures = total_ok = 0
    for guide in sorted({source for source, _ in failures}):
        mine = {k: v for k, v in failures.items() if k[0] == guide}
        ok = sum(all(o.verdict == "right" for o in v) for v in mine.values())
        cases = sum(len(v) for v in mine.values())
        right = sum(o.verdict == "right" for v in mine.values() for o in v)
        rows.append(f"| {guide} | {len(mine)} | {ok} | {cases} | {right} |")
        total_failures += len(mine)
        total_ok += ok
    return rows, total_failures, total_ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--split", choices=("all", "dev", "holdout"), default="all")
    parser.add_argument("--misses", action="store_true", help="print every miss")
    parser.add_argument("--rev", help="measure the detector of this git commit instead "
                                      "(same corpus, same scoring)")
    args = parser.parse_args()
    if args.rev:
        return run_at_revision(args.rev)
    started = time.monotonic()
    cases = [c for c in load_cases(args.corpus) if args.split == "all" or c.half == args.split]
    outcomes = run_all(cases)
    positives = [o for o in outcomes if o.case.kind == "positive"]
    negatives = [o for o in outcomes if o.case.kind == "negative"]
    seeds = [o for o in outcomes if o.case.kind == "seed"]
    print(f"## Real excerpts ({args.split})\n")
    print("\n".join(class_table(positives)[0]))
    fp = [o for o in negatives if o.verdict == "false_positive"]
    print(f"\nNegatives: {len(negatives)} real excerpts, {len(fp)} false positives.\n")
    print("## Seed guides\n")
    rows, failures, recognised = seed_table(seeds)
    print("\n".join(rows))
    print(f"\n{recognised} of {failures} detectable failures recognised in every case; "
          f"{sum(o.verdict == 'right' for o in seeds)} of {len(seeds)} cases right.")
    print(f"\n({len(outcomes)} cases in {time.monotonic() - started:.1f} s)")
    if args.misses:
        for outcome in outcomes:
            if outcome.verdict in ("right", "quiet"):
                continue
            case = outcome.case
            print(f"\n--- {outcome.verdict}: expected {case.cls} got {outcome.classes} "
                  f"({case.source}) {case.url}")
            print("\n".join(case.text.strip().splitlines()[-12:]))
    return 0


def run_at_revision(rev: str) -> int:
    """The same script and corpus, the ``detector`` package (and its packs) of ``rev``."""
    argv = [a for i, a in enumerate(sys.argv[1:], 1)
            if a != "--rev" and sys.argv[i - 1] != "--rev" and not a.startswith("--rev=")]
    with tempfile.TemporaryDirectory() as tree:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "detector", "patterns"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
        print(f"# detector at {rev}\n")
        sys.stdout.flush()
        env = {**os.environ, "DETECTOR_BENCH_ROOT": tree, "DETECTOR_CACHE_DIR": tree}
        return subprocess.run([sys.executable, __file__, *argv], env=env).returncode


if __name__ == "__main__":
    sys.exit(main())

"""Throughput and memory: detector replay vs grep vs a naive Python loop, in one run.

All read the same generated corpus (2M lines by default). Two grep runs: the one a
user would make, ``grep -cEf bench/headline.ere`` (a dozen headline expressions, the
comparison DESIGN.md's bar is stated against), and grep given every signature the
detector has (the shipped packs' regexes translated to POSIX ERE). The naive Python
loop runs the same signatures line by line. Each runs as its own process; wall time,
CPU time (user + system) and that process's peak RSS (wait4) are measured; the
detector and the headline grep run ``--repeat`` times and the fastest run counts. A
second detector run on the corpus repeated N times (multi-GB) shows memory stays flat
in input size.

    python bench/throughput.py                  # 2M lines, big file = 10 copies
    python bench/throughput.py --lines 200000 --scale 0 --skip-naive   # quick look

Writes bench/out/throughput.md (the README's table) and prints it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HEADLINE = HERE / "headline.ere"     # what a user would grep for: a dozen expressions
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import corpus  # noqa: E402
from live import machine  # noqa: E402

from detector.build import load_patterns  # noqa: E402
from detector.config import load_config  # noqa: E402
from detector.match.translate import ere  # noqa: E402

NAIVE = '''
import sys
sys.path.insert(0, {root!r})
from detector.build import load_patterns
from detector.config import load_config
patterns = [p.regex for p in load_patterns(load_config(None))]
count = 0
with open({path!r}, encoding="utf-8", errors="replace") as lines:
    for line in lines:
        for pattern in patterns:
            if pattern.search(line):
                count += 1
                break
print(count)
'''


@dataclass
class Run:
    name: str
    command: str
    seconds: float
    peak_mb: float
    output: str
    cpu: float = 0.0               # user + system seconds


def measure(name: str, argv: list[str], *, env: dict[str, str] | None = None,
            shown: str | None = None, stdout_to_null: bool = False) -> Run:
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL if stdout_to_null else subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
    out = b""
    if not stdout_to_null:
        assert proc.stdout is not None
        out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"{name} failed ({status}): {err[-2000:]}")
    proc.returncode = 0
    return Run(name, shown or " ".join(argv), seconds, usage.ru_maxrss / 1024,
               out.decode(errors="replace").strip(), usage.ru_utime + usage.ru_stime)


def best_of(repeat: int, name: str, argv: list[str], *, env: dict[str, str] | None = None,
            shown: str | None = None, stdout_to_null: bool = False) -> Run:
    """The fastest of ``repeat`` runs (a shared machine only ever slows a run down)."""
    runs = [measure(name, argv, env=env, shown=shown, stdout_to_null=stdout_to_null)
            for _ in range(max(1, repeat))]
    return min(runs, key=lambda run: run.seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--scale", type=int, default=10,
                        help="the memory run reads the corpus repeated this many times (0: skip)")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--skip-grep", action="store_true")
    parser.add_argument("--overhead-runs", type=int, default=5,
                        help="alternating runs with and without rate/novelty detection")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of detector replay and of the headline grep; the fastest "
                             "counts")
    args = parser.parse_args()

    out_dir = HERE / "out"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"corpus-{args.lines}.log"
    if not path.exists():
        print(f"generating {path} …", file=sys.stderr)
        corpus.generate(path, args.lines)
    size = path.stat().st_size
    lines = args.lines
    signatures = out_dir / "signatures.ere"
    patterns = load_patterns(load_config(None))
    signatures.write_text("\n".join(ere(p.source) for p in patterns) + "\n")

    detector = str(Path(sys.executable).with_name("detector"))
    cache = {"DETECTOR_CACHE_DIR": str(out_dir / "hs-cache")}
    # Warm the compiled-database cache once, as a daemon or a second replay would find it.
    measure("warm-up", [detector, "validate"], env=cache)
    runs = [best_of(args.repeat, "detector replay",
                    [detector, "replay", str(path), "--output", "jsonl"], env=cache,
                    shown=f"detector replay {path.name} --output jsonl > /dev/null",
                    stdout_to_null=True)]
    headline = best_of(args.repeat, "grep -cEf headline.ere",
                       ["grep", "-cEf", str(HEADLINE), str(path)], env={"LC_ALL": "C"},
                       shown=f"LC_ALL=C grep -cEf bench/headline.ere {path.name}")
    runs.append(headline)
    if not args.skip_grep:
        runs.append(measure("grep -cEf, all signatures",
                            ["grep", "-cEf", str(signatures), str(path)], env={"LC_ALL": "C"},
                            shown=f"LC_ALL=C grep -cEf signatures.ere {path.name}"))
    if not args.skip_naive:
        runs.append(measure("naive Python loop",
                            [sys.executable, "-c", NAIVE.format(root=str(ROOT), path=str(path))],
                            shown="python: for line: for pattern: pattern.search(line)"))

    big_row = ""
    if args.scale:
        big = out_dir / f"corpus-x{args.scale}.log"
        with big.open("wb") as target:
            for _ in range(args.scale):
                with path.open("rb") as source:
                    shutil.copyfileobj(source, target, 16 << 20)
        try:
            big_run = measure("detector replay (big)",
                              [detector, "replay", str(big), "--output", "jsonl"], env=cache,
                              stdout_to_null=True)
        finally:
            big_size = big.stat().st_size
            big.unlink()
        big_row = (f"| detector replay, same corpus ×{args.scale} ({big_size / 1e9:.1f} GB) | "
                   f"{lines * args.scale / big_run.seconds:,.0f} | "
                   f"{big_size / 1e6 / big_run.seconds:,.1f} | {big_run.seconds:.1f} | "
                   f"{big_run.cpu:.1f} | {big_run.peak_mb:.0f} | |\n")

    overhead = ""
    if args.overhead_runs:
        signatures_only = out_dir / "signatures-only.toml"
        signatures_only.write_text("[detect]\nrates = false\nnovelty = false\n")
        with_detection, without = [], []
        for _ in range(args.overhead_runs):
            with_detection.append(measure("on", [detector, "replay", str(path), "--output",
                                                 "jsonl"], env=cache,
                                          stdout_to_null=True).seconds)
            without.append(measure("off", [detector, "replay", str(path), "--output", "jsonl",
                                           "-c", str(signatures_only)], env=cache,
                                   stdout_to_null=True).seconds)
        on, off = statistics.median(with_detection), statistics.median(without)
        overhead = (f"\nDetection overhead ({args.overhead_runs} alternating runs each, "
                    f"medians): signatures only {off:.2f} s, with rate and novelty detection "
                    f"{on:.2f} s: **{(on / off - 1) * 100:+.1f}%** "
                    f"(`detector replay {path.name}` vs the same with "
                    "`[detect] rates = false, novelty = false`).\n")

    base = runs[0].seconds
    table = ["| run | lines/s | MB/s | wall s | CPU s | peak RSS MB | time vs detector |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for run in runs:
        table.append(f"| {run.name} | {lines / run.seconds:,.0f} | {size / 1e6 / run.seconds:,.1f}"
                     f" | {run.seconds:.2f} | {run.cpu:.2f} | {run.peak_mb:.0f} "
                     f"| {run.seconds / base:.2f}× |")
    text = "\n".join(table) + "\n" + big_row
    expressions = sum(1 for line in HEADLINE.read_text().splitlines() if line.strip())
    verdict = (f"\n**detector replay takes {base / headline.seconds:.2f}× the time of "
               f"`grep -cEf bench/headline.ere`** ({expressions} headline expressions, "
               f"{headline.output} lines) — target ≤ 2×; best of {max(1, args.repeat)} runs "
               "each.\n")
    report = (f"Corpus: {path.name}, {lines:,} lines, {size / 1e6:.1f} MB "
              f"(bench/corpus.py, seed 7); {len(patterns)} signatures. Machine: {machine()}.\n\n"
              + text + verdict + overhead + "\nCommands:\n\n"
              + "\n".join(f"- `{r.command}`" for r in runs) + "\n")
    (out_dir / "throughput.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()

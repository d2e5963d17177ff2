"""Replay speed of this checkout against an older revision, on the same corpus, in one run.

The question a change must answer ("replay throughput within 10 % of before"): both
detectors replay the same generated corpus (bench/corpus.py) as their own processes,
alternating, N times each; the best wall time and the best CPU time (user + system,
which a loaded machine disturbs less) of each are compared, with the peak RSS. The
older revision's package is taken with ``git archive`` into a temporary directory and
run with the same interpreter and dependencies.

    python bench/versus.py 86760dc                 # 1,000,000 lines, 3 runs each
    python bench/versus.py 86760dc --lines 2000000 --runs 5

Writes bench/out/versus.md and prints it.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import corpus  # noqa: E402


@dataclass
class Run:
    wall: float
    cpu: float
    rss_mb: float
    incidents: int


def replay_once(package_root: Path, log: Path, cache: Path, output: Path) -> Run:
    """One ``python -m detector replay`` of ``log`` with ``package_root`` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(package_root), "DETECTOR_CACHE_DIR": str(cache)}
    started = time.perf_counter()
    with output.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "detector", "replay", str(log),
                                    "--output", "jsonl"], stdout=out,
                                   stderr=subprocess.DEVNULL, env=env, cwd=package_root)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"replay at {package_root} exited {process.returncode}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
               output.read_bytes().count(b'"event":"open"'))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rev", help="the older revision (a commit, tag or branch)")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="detector-versus-") as tmp:
        work = Path(tmp)
        old = work / "old"
        old.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.rev, "detector",
                                  "patterns"], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        log = work / "corpus.log"
        corpus.generate(log, args.lines)
        trees = {args.rev: old, "this checkout": ROOT}
        runs: dict[str, list[Run]] = {name: [] for name in trees}
        for _ in range(args.runs):
            for index, (name, tree) in enumerate(trees.items()):
                runs[name].append(replay_once(tree, log, work / f"cache-{index}",
                                              work / f"out-{index}.jsonl"))
        size_mb = log.stat().st_size / 1e6
    lines = [f"Replay of {args.lines:,} generated lines ({size_mb:.0f} MB, bench/corpus.py), "
             f"{args.runs} runs each, alternating. Machine: {platform.machine()}, "
             f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
             f"{time.strftime('%Y-%m-%d')}, load {os.getloadavg()[0]:.1f} at the end.", "",
             "| detector | best wall | lines/s | best CPU | peak RSS | incidents opened |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, measured in runs.items():
        wall = min(r.wall for r in measured)
        cpu = min(r.cpu for r in measured)
        lines.append(f"| {name} | {wall:.2f} s | {args.lines / wall:,.0f} | {cpu:.2f} s | "
                     f"{max(r.rss_mb for r in measured):.0f} MB | {measured[0].incidents:,} |")
    old_cpu, new_cpu = (min(r.cpu for r in runs[n]) for n in trees)
    old_wall, new_wall = (min(r.wall for r in runs[n]) for n in trees)
    lines += ["", f"This checkout / {args.rev}: CPU {new_cpu / old_cpu:.2f}×, "
                  f"wall {new_wall / old_wall:.2f}×.", "",
              f"Command: `python bench/versus.py {args.rev} --lines {args.lines} "
              f"--runs {args.runs}`"]
    text = "\n".join(lines) + "\n"
    (HERE / "out").mkdir(exist_ok=True)
    (HERE / "out" / "versus.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

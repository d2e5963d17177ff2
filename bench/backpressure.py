"""Backpressure: a burst appended at once to a followed file; peak RSS stays flat.

A fresh ``detector run`` follows an empty file; once it is idle, N lines of the
throughput corpus are appended in one go (far faster than the daemon can
process them). The daemon's RSS is sampled from /proc every 20 ms until it has
read every line; its peak (VmHWM) is compared for bursts of different sizes. A
daemon that buffered what it could not yet process would grow with N; a bounded
queue that stops the file reader keeps the peak the same.

    python bench/backpressure.py                          # 100k, 1M and 3M lines
    python bench/backpressure.py --bursts 100000 1000000          # quicker

Writes bench/out/backpressure.md and prints it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus
from live import OUT, DaemonProcess, Hook, followed_log, machine, memory_kib, wait_until


def burst(lines: int, source_corpus: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="detector-burst-") as tmp, Hook() as hook:
        work = Path(tmp)
        log, source = followed_log(work, "app.log")
        with DaemonProcess(work, source, hook.url) as daemon:
            time.sleep(2.0)
            idle_rss, _ = memory_kib(daemon.pid)
            started = time.time()
            with source_corpus.open("rb") as src, log.open("ab") as out:
                for copied, line in enumerate(src):
                    if copied == lines:
                        break
                    out.write(line)
            appended = time.time() - started
            peak_queue = 0.0
            samples = 0

            def done() -> bool:
                nonlocal peak_queue, samples
                samples += 1
                if samples % 10 == 0:
                    peak_queue = max(peak_queue, daemon.metric("detector_queue_bytes") / 1e6)
                    return daemon.metric("detector_lines_processed_total") >= lines
                memory_kib(daemon.pid)
                return False

            wait_until(done, 3600, "the daemon to process the burst", every=0.02)
            seconds = time.time() - started
            rss, peak = memory_kib(daemon.pid)
            daemon.stop()
    return {"lines": lines, "idle_mb": idle_rss / 1024, "peak_mb": peak / 1024,
            "end_mb": rss / 1024, "append_s": appended, "seconds": seconds,
            "peak_queue": peak_queue}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bursts", type=int, nargs="+", default=[100_000, 1_000_000, 3_000_000])
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    biggest = max(args.bursts)
    path = OUT / f"corpus-{max(biggest, 2_000_000)}.log"
    if not path.exists():
        print(f"generating {path} …", file=sys.stderr)
        corpus.generate(path, max(biggest, 2_000_000))
    results = [burst(n, path) for n in args.bursts]
    rows = ["| burst appended at once | appended in | processed in | lines/s | idle RSS | "
            "peak RSS | queue peak (MB) |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        rows.append(f"| {r['lines']:,.0f} lines | {r['append_s']:.1f} s | {r['seconds']:.1f} s | "
                    f"{r['lines'] / r['seconds']:,.0f} | {r['idle_mb']:.0f} MB | "
                    f"{r['peak_mb']:.0f} MB | {r['peak_queue']:.1f} |")
    report = (f"Backpressure: bursts from {path.name} appended at once to a followed file "
              f"(`detector run`, default settings). Machine: {machine()}.\n\n"
              + "\n".join(rows) + "\n\nCommand: `python bench/backpressure.py --bursts "
              + " ".join(str(n) for n in args.bursts) + "`\n")
    shutil.rmtree(OUT / "burst", ignore_errors=True)
    (OUT / "backpressure.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()

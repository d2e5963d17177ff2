"""Live latency: a line appended to a followed file → the webhook receiver has it.

``detector run`` follows a file with the default file-source settings while INFO
noise is appended at a steady rate; every so often a Redis ``LockError`` line
(each with its own lock, so each opens its own incident) is appended. For each
one, the time from the append (write + flush returned) to the receiver reading
the notification's body is measured. The daemon, the writer and the receiver
share this machine's clock.

    python bench/latency.py                 # 300 incidents at 5/s over 2,000 noise lines/s
    python bench/latency.py --incidents 50  # a quick look

Writes bench/out/latency.md and prints it. Target: p99 < 1 s.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from live import (
    OUT,
    DaemonProcess,
    Hook,
    followed_log,
    machine,
    percentile,
    stamp,
    wait_until,
)

NOISE = "{stamp} INFO [worker-sync] order {n:08x} synced from exchange in {ms}ms\n"
TROUBLE = ("{stamp} ERROR [worker-sync] redis.exceptions.LockError: Unable to acquire lock "
           "on lock:job:{n} after 10 seconds\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=300)
    parser.add_argument("--rate", type=float, default=5.0, help="trouble lines per second")
    parser.add_argument("--noise", type=float, default=2000.0, help="INFO lines per second")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    rng = random.Random(11)

    with tempfile.TemporaryDirectory(prefix="detector-latency-") as tmp, Hook() as hook:
        work = Path(tmp)
        log, source = followed_log(work, "worker-sync.log")
        with DaemonProcess(work, source, hook.url) as daemon, log.open("a") as out:
            appended: dict[str, float] = {}
            noise_per_tick, tick = args.noise / 100, 0.01          # noise in 10 ms slices
            owed = 0.0
            next_trouble = time.time() + 1.0
            n = 0
            while len(appended) < args.incidents:
                owed += noise_per_tick
                chunk = []
                while owed >= 1:
                    chunk.append(NOISE.format(stamp=stamp(), n=rng.getrandbits(32),
                                              ms=rng.randint(3, 90)))
                    owed -= 1
                if chunk:
                    out.write("".join(chunk))
                    out.flush()
                if time.time() >= next_trouble:
                    out.write(TROUBLE.format(stamp=stamp(), n=n))
                    out.flush()
                    appended[f"lock:job:{n}"] = time.time()
                    n += 1
                    next_trouble += rng.expovariate(args.rate)
                time.sleep(tick)
            wait_until(lambda: len(hook.opened()) >= args.incidents, 60,
                       "every incident to reach the receiver")
            lines = int(daemon.metric("detector_source_lines_total", source="app"))
            daemon.stop()
        received = {r.event["fields"]["lock"]: r.at for r in hook.opened()}
        latencies = [received[lock] - at for lock, at in appended.items()]

    ms = [x * 1000 for x in latencies]
    report = (
        f"Live latency, appended line → webhook receipt ({len(ms)} incidents at ~{args.rate:g}/s "
        f"over {args.noise:,.0f} INFO lines/s; {lines:,} lines followed; default file-source "
        f"settings). Machine: {machine()}.\n\n"
        "| p50 | p90 | p99 | max |\n|---:|---:|---:|---:|\n"
        f"| {percentile(ms, 50):.0f} ms | {percentile(ms, 90):.0f} ms | "
        f"{percentile(ms, 99):.0f} ms | {max(ms):.0f} ms |\n\n"
        f"Command: `python bench/latency.py --incidents {args.incidents} --rate {args.rate:g} "
        f"--noise {args.noise:g}`\n")
    (OUT / "latency.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()

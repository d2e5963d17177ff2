"""Crash test: ``kill -9`` at random moments while lines flow; nothing may be lost.

Every line written is trouble with its own lock (``lock:job:N``), so every line
must become its own incident at the webhook receiver: a skipped line is a
missing incident. A writer appends (file) or produces (Kafka, to Tansu) lines at
a steady rate; meanwhile the daemon is killed with SIGKILL at random moments
(seeded) and started again at once, on the same state directory. When the
writer is done, every incident must arrive; repeats are counted and must carry
the same event id as the first delivery (receivers de-duplicate on it).

    python bench/crash.py                    # file and kafka, 60 s each, 8 kills each
    python bench/crash.py --sources file --seconds 20 --kills 3

Writes bench/out/crash.md and prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from live import (
    OUT,
    DaemonProcess,
    Hook,
    create_topic,
    machine,
    stamp,
    start_tansu,
    wait_until,
)

LINE = ("{stamp} ERROR [worker-sync] redis.exceptions.LockError: Unable to acquire lock on "
        "lock:job:{n} after 10 seconds\n")


class Writer(threading.Thread):
    """Writes numbered lines at a steady rate until told to stop."""

    def __init__(self, write: Callable[[list[str]], None], rate: float) -> None:
        super().__init__(daemon=True)
        self.write, self.rate = write, rate
        self.written = 0
        self.stop = threading.Event()

    def run(self) -> None:
        started = time.time()
        while not self.stop.is_set():
            due = int((time.time() - started) * self.rate)
            if due > self.written:
                self.write([LINE.format(stamp=stamp(), n=n) for n in range(self.written, due)])
                self.written = due
            time.sleep(0.01)


def file_world(work: Path) -> tuple[str, Callable[[list[str]], None], Callable[[], None]]:
    log = work / "logs" / "worker-sync.log"
    log.parent.mkdir(parents=True)
    log.touch()
    handle = log.open("a")

    def write(lines: list[str]) -> None:
        handle.write("".join(lines))
        handle.flush()

    source = (f'[[source]]\ntype = "file"\nname = "app"\npath = "{log.parent}/*.log"\n'
              'start_at = "beginning"\n')
    return source, write, handle.close


def kafka_world(work: Path) -> tuple[str, Callable[[list[str]], None], Callable[[], None]]:
    from aiokafka import AIOKafkaProducer

    tansu, bootstrap = start_tansu()
    asyncio.run(create_topic(bootstrap, "logs", 4))
    loop = asyncio.new_event_loop()

    async def connect() -> AIOKafkaProducer:
        started = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
        await started.start()
        return started

    producer = loop.run_until_complete(connect())     # used by the writer thread only

    def write(lines: list[str]) -> None:
        async def send() -> None:
            futures = [await producer.send("logs", line.rstrip("\n").encode(),
                                           key=b"worker-sync") for line in lines]
            await asyncio.gather(*futures)
        loop.run_until_complete(send())

    def close() -> None:
        loop.run_until_complete(producer.stop())
        loop.close()
        tansu.kill()
        tansu.wait(10)

    source = (f'[[source]]\ntype = "kafka"\nname = "app"\nbrokers = ["{bootstrap}"]\n'
              'topics = ["logs"]\ngroup_id = "crash"\nstart_at = "beginning"\n')
    return source, write, close


def trial(kind: str, seconds: float, kills: int, rate: float, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    moments = sorted(rng.uniform(2.0, seconds - 2.0) for _ in range(kills))
    with tempfile.TemporaryDirectory(prefix=f"detector-crash-{kind}-") as tmp, Hook() as hook:
        work = Path(tmp)
        source, write, close = (file_world if kind == "file" else kafka_world)(work)
        daemon = DaemonProcess(work, source, hook.url, extra="[detect]\nrates = false\n")
        try:
            daemon.start()
            writer = Writer(write, rate)
            started = time.time()
            writer.start()
            restarts = []
            for moment in moments:
                time.sleep(max(0.0, started + moment - time.time()))
                daemon.kill()
                down = time.time()
                daemon.start()
                restarts.append(time.time() - down)
            time.sleep(max(0.0, started + seconds - time.time()))
            writer.stop.set()
            writer.join()
            total = writer.written

            def all_arrived() -> bool:
                return len({r.event["fields"]["lock"] for r in hook.opened()}) >= total

            wait_until(all_arrived, 300, f"{kind}: every incident after the writer stopped",
                       every=0.5)
            time.sleep(2.0)                                  # late repeats count too
            daemon.stop()
        finally:
            daemon.__exit__(None)
            close()
        opened = hook.opened()
    locks = Counter(str(r.event["fields"]["lock"]) for r in opened)
    expected = {f"lock:job:{n}" for n in range(total)}
    ids: dict[str, set[str]] = {}
    for r in opened:
        ids.setdefault(str(r.event["fields"]["lock"]), set()).add(r.event_id)
    return {"kind": kind, "written": total, "kills": len(moments),
            "missing": len(expected - set(locks)), "unexpected": len(set(locks) - expected),
            "repeats": sum(c - 1 for c in locks.values()),
            "changed_ids": sum(1 for s in ids.values() if len(s) > 1),
            "restart_s": max(restarts) if restarts else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", nargs="+", default=["file", "kafka"],
                        choices=["file", "kafka"])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--rate", type=float, default=100.0, help="lines per second")
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    results = [trial(kind, args.seconds, args.kills, args.rate, args.seed)
               for kind in args.sources]
    rows = ["| source | lines written | kill -9 | lines skipped (incidents missing) | "
            "repeated deliveries | repeats with a new event id | slowest restart |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        rows.append(f"| {r['kind']} | {r['written']:,} | {r['kills']} | {r['missing']} | "
                    f"{r['repeats']} | {r['changed_ids']} | {r['restart_s']:.1f} s |")
    report = (f"Crash test: lines at {args.rate:g}/s for {args.seconds:g} s, each its own "
              f"incident; SIGKILL at {args.kills} random moments (seed {args.seed}), restarted "
              f"at once. Machine: {machine()}.\n\n" + "\n".join(rows)
              + f"\n\nCommand: `python bench/crash.py --sources {' '.join(args.sources)} "
              f"--seconds {args.seconds:g} --kills {args.kills} --rate {args.rate:g} "
              f"--seed {args.seed}`\n")
    (OUT / "crash.md").write_text(report)
    print(report)
    if any(r["missing"] or r["unexpected"] or r["changed_ids"] for r in results):
        raise SystemExit("LOST OR CHANGED: see above")


if __name__ == "__main__":
    main()

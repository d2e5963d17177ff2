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
    python bench/crash.py --sources disk-full read-only-state   # the state directory's faults

The state-directory faults (root: a tmpfs is mounted, capsh drops root's file-mode
override) keep lines flowing at the same rate while, for the middle third of the
run, the state directory is full (a 32 MiB tmpfs filled to the last byte) or refuses
new files (mode 0500); then it recovers. Measured: lines lost, repeats, how long
/healthz said so, and how long after the fault ended every incident had arrived.

Writes bench/out/crash.md and prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
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

DISK = "64m"          # the state directory's tmpfs: roomy until it is filled (6,000 open
#                       incidents and their notifications take about 30 MB)
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


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (1 << 20, 65536, 4096, 512, 1):
            try:
                while True:
                    os.write(descriptor, b"\0" * chunk)
            except OSError:
                continue
    finally:
        os.close(descriptor)
    return filler


def fault_trial(kind: str, seconds: float, rate: float) -> dict[str, object]:
    """Lines flow; for the middle third the state directory is full or read-only."""
    with tempfile.TemporaryDirectory(prefix=f"detector-{kind}-") as tmp, Hook() as hook:
        work = Path(tmp)
        source, write, close = file_world(work)
        disk = work / "disk"
        disk.mkdir()
        wrapper = None
        if kind == "disk-full":
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK},mode=0700", "tmpfs",
                            str(disk)], check=True)
        else:
            wrapper = ["capsh", "--drop=cap_dac_override,cap_dac_read_search,cap_fowner",
                       "--", "-c"]
        state = disk / "state"
        daemon = DaemonProcess(work, source, hook.url, extra="[detect]\nrates = false\n",
                               state=state, wrapper=wrapper)
        unhealthy = 0.0
        try:
            daemon.start()
            writer = Writer(write, rate)
            started = time.time()
            writer.start()
            time.sleep(seconds / 3)
            filler = _fill(disk) if kind == "disk-full" else None
            if filler is None:
                state.chmod(0o500)
            fault_started = time.time()
            while time.time() < fault_started + seconds / 3:
                if httpx.get(daemon.url("/healthz"), timeout=5).status_code != 200:
                    unhealthy += 0.2
                time.sleep(0.2)
            if filler is not None:
                filler.unlink()
            else:
                state.chmod(0o700)
            fault_ended = time.time()
            time.sleep(max(0.0, started + seconds - time.time()))
            writer.stop.set()
            writer.join()
            total = writer.written
            recovered = [0.0]

            def all_arrived() -> bool:
                return len({r.event["fields"]["lock"] for r in hook.opened()}) >= total

            try:
                wait_until(all_arrived, 300, f"{kind}: every incident", every=0.2)
            except SystemExit:
                arrived = len({r.event["fields"]["lock"] for r in hook.opened()})
                sizes = subprocess.run(["du", "-a", str(disk)], capture_output=True,
                                       text=True).stdout
                print(f"{kind}: {arrived} of {total} incidents arrived; on the disk:\n{sizes}"
                      "the daemon's log ends:\n"
                      f"{daemon.log.read_text(errors='replace')[-4000:]}", file=sys.stderr)
                raise
            recovered[0] = time.time() - fault_ended
            healthy_again = daemon.metric("detector_outbox_blocked") == 0
            daemon.stop()
        finally:
            daemon.__exit__(None)
            close()
            if kind == "disk-full":
                subprocess.run(["umount", "-l", str(disk)], check=False)
        opened = hook.opened()
    locks = Counter(str(r.event["fields"]["lock"]) for r in opened)
    expected = {f"lock:job:{n}" for n in range(total)}
    return {"kind": kind, "written": total, "missing": len(expected - set(locks)),
            "repeats": sum(c - 1 for c in locks.values()), "fault_s": seconds / 3,
            "unhealthy_s": unhealthy, "all_in_s": recovered[0], "healthy": healthy_again}


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
                        choices=["file", "kafka", "disk-full", "read-only-state"])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--rate", type=float, default=100.0, help="lines per second")
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    kinds = [k for k in args.sources if k in ("file", "kafka")]
    faults = [k for k in args.sources if k not in kinds]
    results = [trial(kind, args.seconds, args.kills, args.rate, args.seed) for kind in kinds]
    fault_results = [fault_trial(kind, args.seconds, args.rate) for kind in faults]
    sections = []
    if results:
        rows = ["| source | lines written | kill -9 | lines skipped (incidents missing) | "
                "repeated deliveries | repeats with a new event id | slowest restart |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for r in results:
            rows.append(f"| {r['kind']} | {r['written']:,} | {r['kills']} | {r['missing']} | "
                        f"{r['repeats']} | {r['changed_ids']} | {r['restart_s']:.1f} s |")
        sections.append(f"Crash test: lines at {args.rate:g}/s for {args.seconds:g} s, each "
                        f"its own incident; SIGKILL at {args.kills} random moments (seed "
                        f"{args.seed}), restarted at once.\n\n" + "\n".join(rows))
    if fault_results:
        rows = ["| state directory | lines written | fault lasted | /healthz unhealthy for | "
                "incidents missing | repeated deliveries | all delivered after the fault by |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for r in fault_results:
            rows.append(f"| {r['kind']} | {r['written']:,} | {r['fault_s']:.0f} s | "
                        f"{r['unhealthy_s']:.1f} s | {r['missing']} | {r['repeats']} | "
                        f"{r['all_in_s']:.1f} s |")
        sections.append(f"State-directory faults: lines at {args.rate:g}/s for "
                        f"{args.seconds:g} s, each its own incident; for the middle third the "
                        f"state directory is full ({DISK} tmpfs filled) or refuses new files "
                        "(mode 0500, root's override dropped with capsh).\n\n"
                        + "\n".join(rows))
    report = ("\n\n".join(sections) + f"\n\nMachine: {machine()}."
              + f"\n\nCommand: `python bench/crash.py --sources {' '.join(args.sources)} "
              f"--seconds {args.seconds:g} --kills {args.kills} --rate {args.rate:g} "
              f"--seed {args.seed}`\n")
    (OUT / "crash.md").write_text(report)
    print(report)
    if any(r["missing"] or r["unexpected"] or r["changed_ids"] for r in results) or any(
            r["missing"] for r in fault_results):
        raise SystemExit("LOST OR CHANGED: see above")


if __name__ == "__main__":
    main()

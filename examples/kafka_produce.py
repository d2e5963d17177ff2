"""Produce the example's logs to Kafka the way detector wants them: keyed by service.

Each line of ``examples/trading-day/<service>.log.gz`` becomes one record of ``--topic``
with ``<service>`` as its key. Kafka's default partitioner puts every record of a key in
the same partition, so each service lives in one partition, and its learned state
follows that partition from one detector process of the group to another.

    python examples/kafka_produce.py --brokers localhost:9092 --topic app-logs
    detector run -c detector.toml     # [[source]] type = "kafka", topics = ["app-logs"]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
from pathlib import Path

HERE = Path(__file__).resolve().parent / "trading-day"


async def produce(brokers: str, topic: str) -> int:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=brokers.split(","), linger_ms=20)
    await producer.start()
    sent = 0
    try:
        for path in sorted(HERE.glob("*.log.gz")):
            service = path.name.removesuffix(".log.gz").encode()      # the record key
            with gzip.open(path, "rb") as lines:
                for line in lines:
                    await producer.send(topic, line.rstrip(b"\n"), key=service)
                    sent += 1
        await producer.flush()
    finally:
        await producer.stop()
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--brokers", default="localhost:9092", help="host:port[,host:port]")
    parser.add_argument("--topic", default="app-logs")
    args = parser.parse_args()
    sent = asyncio.run(produce(args.brokers, args.topic))
    print(f"{sent} records produced to {args.topic}, keyed by service")


if __name__ == "__main__":
    main()

"""Write the shipped example: six hours of a small trading system's logs.

One file per service, as on the host: JSON from the API, Python logging from two
Celery workers, nginx access lines from the gateway. The morning is
ordinary: steady traffic, the odd 404, a stray lock timeout now and then. At
12:40 Redis stalls: lock timeouts and version conflicts pile up in the workers,
a deadlock traceback appears, the exchange starts answering 429, the API
answers 503s, a websocket reconnect loop begins, and an error never seen before
shows up. By 13:25 it is over.

    python examples/generate.py          # rewrites examples/trading-day/*.log.gz
"""

from __future__ import annotations

import gzip
import json
import random
import time
from pathlib import Path

START = 1795168800.0 - 2 * 3600        # 2026-11-20 08:00:00Z
HOURS = 6
STORM = (START + 4 * 3600 + 40 * 60, START + 5 * 3600 + 25 * 60)   # 12:40 – 13:25


def stamp(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f",{int(t % 1 * 1000):03d}"


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


def clf(t: float) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(t))


class Day:
    def __init__(self, seed: int = 20261120) -> None:
        self.rng = random.Random(seed)
        self.lines: list[tuple[float, str, str]] = []
        self.file = "api"

    def add(self, t: float, text: str, file: str | None = None) -> None:
        self.lines.append((t, file or self.file, text))

    def poisson(self, per_minute: float, start: float, end: float):  # type: ignore[no-untyped-def]
        t = start
        while True:
            t += self.rng.expovariate(per_minute / 60.0)
            if t >= end:
                return
            yield t

    def worker(self, t: float, service: str, level: str, message: str) -> None:
        self.add(t, f"{stamp(t)} {level} [{service}] {message}", service)

    def api(self, t: float, level: str, message: str, **extra: object) -> None:
        record = {"@timestamp": iso(t), "level": level, "service": "api", "message": message,
                  **extra}
        self.add(t, json.dumps(record, separators=(",", ":")), "api")

    def access(self, t: float, method: str, path: str, status: int) -> None:
        r = self.rng
        self.add(t, f'10.0.{r.randint(0, 9)}.{r.randint(2, 250)} - - [{clf(t)}] "{method} {path} '
                    f'HTTP/1.1" {status} {r.randint(80, 9000)} "-" "python-httpx/0.27.0"',
                 "gateway")

    def build(self) -> dict[str, list[str]]:
        r = self.rng
        end = START + HOURS * 3600
        in_storm = lambda t: STORM[0] <= t < STORM[1]  # noqa: E731
        # Ordinary traffic.
        for t in self.poisson(90, START, end):
            path = r.choice(["/api/v1/bots", "/api/v1/orders", f"/api/v1/bots/{r.randint(1, 400)}",
                             "/health", "/api/v1/wallets/balance"])
            status = 503 if in_storm(t) and r.random() < 0.25 else r.choices(
                [200, 201, 304, 404], [85, 6, 6, 3])[0]
            self.access(t, r.choice(["GET", "GET", "POST"]), path, status)
        for t in self.poisson(40, START, end):
            bot = f"{r.getrandbits(24):06x}"
            self.worker(t, "worker-sync", "INFO", r.choice([
                f"sync_orders finished for bot {bot}: {r.randint(0, 9)} orders synced",
                f"acquired lock on lock:sync_orders:{bot} after 0 seconds",
                f"Lock released lock:sync_orders:{bot}"]))
        for t in self.poisson(25, START, end):
            bot = f"{r.getrandbits(24):06x}"
            self.worker(t, "worker-smart", "INFO", r.choice([
                f"bot {bot} check_situation price={r.randint(98000, 102000)} variation=-0.4%",
                f"smart_bot_purchase placed order for bot {bot}",
                "websocket heartbeat ok latency=41ms"]))
        for t in self.poisson(30, START, end):
            self.api(t, "info", r.choice(["request finished", "template listed",
                                          "token refreshed, expires in 3600s"]),
                     duration_ms=r.randint(3, 300))
        # The normal background of trouble: a stray lock timeout every ~40 minutes.
        for t in self.poisson(1 / 40, START, end):
            self.worker(t, "worker-sync", "ERROR", "redis.exceptions.LockError: Unable to acquire "
                        f"lock on lock:smart_bot:{r.getrandbits(24):06x} after 10 seconds")
        for t in self.poisson(1 / 25, START, end):
            self.api(t, "warning", "429 Too Many Requests from api.binance.com, backing off")
        # The storm.
        s0, s1 = STORM
        for t in self.poisson(30, s0, s1):
            self.worker(t, "worker-sync", "ERROR", "redis.exceptions.LockError: Unable to acquire "
                        f"lock on lock:smart_bot:{r.getrandbits(24):06x} after 10 seconds")
        for t in self.poisson(8, s0 + 120, s1):
            self.worker(t, "worker-smart", "WARNING", f"VersionConflictError: Bot "
                        f"{r.getrandbits(24):06x} foi modificado por outro processo")
        for t in self.poisson(6, s0 + 300, s1 - 600):
            self.api(t, "error", "binance.exceptions.BinanceAPIException: APIError(code=-1003): "
                     "Too much request weight used; current limit is 1200 request weight per "
                     "1 MINUTE. Please use WebSocket Streams for live updates to avoid polling "
                     "the API.")
        for t in self.poisson(1.2, s0 + 600, s1 - 300):
            self.add(t, f"{stamp(t)} ERROR [worker-smart] ws reconnecting to "
                        f"wss://stream.binance.com:9443/ws, attempt {r.randint(3, 12)}",
                     "worker-smart")
        for t in self.poisson(0.6, s0 + 900, s1 - 900):
            self.api(t, "error", "wallet balance cache stale for user "
                     f"{r.randint(1000, 9999)}: snapshot missing")
        t = s0 + 1500
        self.worker(t, "worker-sync", "ERROR", "sync_orders failed for bot 65a1f0")
        for offset, text in enumerate([
            "Traceback (most recent call last):",
            '  File "/usr/local/lib/python3.11/site-packages/sqlalchemy/engine/base.py", '
            'line 1969, in _exec_single_context',
            "    self.dialect.do_execute(",
            '  File "/app/src/repositories/orders.py", line 88, in update_status',
            "    await session.execute(stmt)",
            "sqlalchemy.exc.OperationalError: (psycopg2.errors.DeadlockDetected) deadlock detected",
            "DETAIL:  Process 4242 waits for ShareLock on transaction 1001; "
            "blocked by process 4343.",
            "HINT:  See server log for query details.",
            'CONTEXT:  while updating tuple (12,7) in relation "orders"',
        ]):
            self.add(t + offset * 1e-4, text, "worker-sync")
        t = s0 + 1800
        self.add(t, "Task was destroyed but it is pending!", "worker-smart")
        self.add(t + 1e-4, "task: <Task pending name='Task-88' coro=<ContextService."
                           "_backfill_background() running at /app/app/context/service.py:212> "
                           "wait_for=<Future pending cb=[Task.task_wakeup()]>>", "worker-smart")
        self.lines.sort(key=lambda item: item[0])
        files: dict[str, list[str]] = {}
        for _, file, text in self.lines:
            files.setdefault(file, []).append(text)
        return files


def main() -> None:
    directory = Path(__file__).with_name("trading-day")
    directory.mkdir(exist_ok=True)
    for name, lines in sorted(Day().build().items()):
        target = directory / f"{name}.log.gz"
        with gzip.GzipFile(target, "wb", mtime=0) as out:
            out.write(("\n".join(lines) + "\n").encode())
        print(f"{target}: {len(lines):,} lines")


if __name__ == "__main__":
    main()

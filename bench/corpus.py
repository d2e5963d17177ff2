"""Generate a mixed log corpus for the throughput benchmark.

Lines: Python-logging app lines, nginx combined access lines, JSON (structlog
style) lines and Celery worker lines, with timestamps advancing through a day.
About 1% are trouble, drawn from the shipped packs' own ``examples.match``
(multi-line ones included), and near misses (``examples.no_match``) are mixed in
at the same rate so precision costs something too. Deterministic for a seed.

    python bench/corpus.py --lines 2000000 --out bench/out/corpus-2m.log
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.build import load_patterns
from detector.config import load_config

SERVICES = ["api", "worker-sync", "worker-smart", "auth-service", "wallet-service",
            "notification-service", "backfill", "gateway"]
PATHS = ["/api/v1/templates", "/api/v1/orders", "/api/v1/orders/{id}", "/health",
         "/api/dashboard/health", "/webhook", "/api/v1/auth/login", "/static/app.js",
         "/api/v1/wallets/{id}/balance", "/playground/status"]
INFO_TEMPLATES = [
    "request finished path={path} status=200 duration_ms={ms}",
    "order {hex} synced from exchange in {ms}ms",
    "bot {hex} check_situation price={price} base_price={price}",
    "cache hit ratio {pct}% for key user:{n}:profile",
    "Lock released lock:smart_bot:{hex}",
    "acquired lock on lock:sync_orders:{hex} after 0 seconds",
    "published {n} messages to queue notifications",
    "websocket heartbeat ok latency={ms}ms",
    "user {n} logged in from 10.0.{n3}.{n3}",
    "backfill chunk {n}/48 done, {n} trades",
    "token refreshed for user {n}, expires in 3600s",
    "GET https://api.binance.com/api/v3/ticker/price?symbol=BTCUSDT 200 {ms}ms",
]
CELERY_TEMPLATES = [
    "[{ts}: INFO/MainProcess] Task src.workflows.sync_orders[{uuid}] received",
    "[{ts}: INFO/ForkPoolWorker-{w}] Task src.workflows.sync_orders[{uuid}] succeeded in "
    "{sec}s: None",
    "[{ts}: INFO/MainProcess] Task tasks.backfill[{uuid}] received",
]


class Generator:
    def __init__(self, seed: int, start: float, lines: int, span: float) -> None:
        self.rng = random.Random(seed)
        self.now = start
        self.step = span / lines
        patterns = load_patterns(load_config(None))
        self.trouble = [e for p in patterns for e in p.examples_match]
        self.near = [e for p in patterns for e in p.examples_no_match]

    def _fill(self, template: str) -> str:
        r = self.rng
        return template.format(
            path=r.choice(PATHS).replace("{id}", str(r.randint(1, 99999))),
            ms=r.randint(1, 900), hex=f"{r.getrandbits(24):06x}", price=r.randint(90000, 110000),
            pct=r.randint(50, 99), n=r.randint(1, 5000), n3=r.randint(1, 254),
            uuid=f"{r.getrandbits(128):032x}", w=r.randint(1, 8),
            sec=f"{r.random():.3f}",
            ts=self.stamp(","))

    def stamp(self, sep: str = ",") -> str:
        millis = int((self.now % 1) * 1000)
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.now)) + f"{sep}{millis:03d}"

    def app(self, message: str, level: str = "INFO") -> str:
        service = self.rng.choice(SERVICES)
        return f"{self.stamp()} {level} [{service}] {message}"

    def access(self) -> str:
        r = self.rng
        status = r.choices([200, 201, 204, 301, 304, 404], [70, 8, 5, 3, 10, 4])[0]
        clf = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(self.now))
        method = r.choice(["GET", "GET", "GET", "POST", "PUT"])
        path = r.choice(PATHS).replace("{id}", str(r.randint(1, 99999)))
        return (f'10.0.{r.randint(0, 255)}.{r.randint(1, 254)} - - [{clf}] "{method} {path} '
                f'HTTP/1.1" {status} {r.randint(0, 50000)} "-" "Mozilla/5.0 (X11; Linux x86_64)"')

    def json_line(self) -> str:
        r = self.rng
        record = {"@timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.now))
                  + f".{int((self.now % 1) * 1000):03d}Z",
                  "level": r.choice(["info", "info", "info", "debug", "warning"]),
                  "service": r.choice(SERVICES),
                  "message": self._fill(r.choice(INFO_TEMPLATES)),
                  "request_id": f"{r.getrandbits(64):016x}"}
        return json.dumps(record, separators=(",", ":"))

    def line(self) -> str:
        self.now += self.step * self.rng.uniform(0.5, 1.5)
        r = self.rng.random()
        if r < 0.01:
            example = self.rng.choice(self.trouble)
            if example.startswith(("{", "[", "1", "2")) or "\n" in example:
                first, _, rest = example.partition("\n")
                return first + ("\n" + rest if rest else "")
            return self.app(example, "ERROR")
        if r < 0.02:
            return self.app(self.rng.choice(self.near).replace("\n", " "), "INFO")
        if r < 0.45:
            return self.app(self._fill(self.rng.choice(INFO_TEMPLATES)))
        if r < 0.75:
            return self.access()
        if r < 0.92:
            return self.json_line()
        return self._fill(self.rng.choice(CELERY_TEMPLATES))


def generate(path: Path, lines: int, seed: int = 7, span: float = 86400.0) -> int:
    gen = Generator(seed, start=1795168800.0, lines=lines, span=span)  # 2026-11-20T...
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("w", encoding="utf-8") as out:
        batch: list[str] = []
        while written < lines:
            text = gen.line()
            batch.append(text)
            written += text.count("\n") + 1
            if len(batch) >= 10000:
                out.write("\n".join(batch) + "\n")
                batch.clear()
        if batch:
            out.write("\n".join(batch) + "\n")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("bench/out/corpus-2m.log"))
    args = parser.parse_args()
    written = generate(args.out, args.lines, args.seed)
    size = args.out.stat().st_size
    print(f"{args.out}: {written:,} lines, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Regenerate docs/status.png: the live status page (GET /) of a daemon that followed the shipped
# example's logs, moved in time so that they end now, with a silence and a maintenance window,
# as headless Chromium (Debian's `chromium` package) renders it.  Usage: scripts/status-screenshot.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v chromium >/dev/null || apt-get install -y -q --no-install-recommends chromium
work=$(mktemp -d)
daemon=""
cleanup() {
  if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/logs"
port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# The example's six hours (08:00-14:00 on 2026-11-20), shifted to end now.
.venv/bin/python - "$work/logs" <<'EOF'
import datetime as dt, gzip, pathlib, re, sys
end = dt.datetime(2026, 11, 20, 14, 0, tzinfo=dt.timezone.utc)
shift = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - end
iso = re.compile(rb"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)")
clf = re.compile(rb"\[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d) \+0000\]")
def moved(text, fmt):
    return (dt.datetime.strptime(text, fmt).replace(tzinfo=dt.timezone.utc) + shift).strftime(fmt)
def line(raw):
    raw = iso.sub(lambda m: (moved(m[1].decode() + " " + m[2].decode(), "%Y-%m-%d %H:%M:%S")
                             .replace(" ", "T" if b"T" in m[0] else " ").encode()), raw, count=1)
    return clf.sub(lambda m: b"[" + moved(m[1].decode(), "%d/%b/%Y:%H:%M:%S").encode()
                   + b" +0000]", raw, count=1)
for path in sorted(pathlib.Path("examples/trading-day").glob("*.log.gz")):
    with gzip.open(path) as src, open(pathlib.Path(sys.argv[1]) / path.name[:-3], "wb") as out:
        out.writelines(line(raw) for raw in src)
EOF

cat > "$work/detector.toml" <<EOF
[state]
dir = "$work/state"
[http]
listen = "127.0.0.1:$port"
[detect]
resolve_after = "2h"           # so that the afternoon's trouble is still open
[[source]]
type = "file"
name = "app-logs"
path = "$work/logs/*.log"
start_at = "beginning"
[[runbook]]
class = "lock_timeout"
url = "https://wiki.example.com/runbooks/redis-locks"
[[maintenance]]
name = "nightly-backup"
service = "worker-*"
days = ["mon", "tue", "wed", "thu", "fri"]
start = "02:00"
duration = "1h"
timezone = "Europe/Lisbon"
EOF

.venv/bin/detector run -c "$work/detector.toml" > "$work/daemon.log" 2>&1 &
daemon=$!
for _ in $(seq 120); do
  lines=$(curl -sf "http://127.0.0.1:$port/metrics" | awk '/^detector_lines_processed_total/ {print int($2)}') || true
  [ "${lines:-0}" -ge 68510 ] && break
  sleep 1
done
curl -sf -X POST -H 'Content-Type: application/json' "http://127.0.0.1:$port/api/silences" \
  -d '{"service": "api", "class": "rate_limited", "for": "2h", "comment": "exchange maintenance, limits expected", "author": "ana"}' > /dev/null
sleep 2
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$work/profile" --hide-scrollbars --window-size=1200,2400 \
  --screenshot="$work/status.png" "http://127.0.0.1:$port/" 2>/dev/null
mv "$work/status.png" docs/status.png
echo "docs/status.png updated"

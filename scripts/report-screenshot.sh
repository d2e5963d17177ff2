#!/usr/bin/env bash
# Regenerate docs/report.png: the replay report over the shipped example, as headless
# Chromium (Debian's `chromium` package) renders it.  Usage: scripts/report-screenshot.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v chromium >/dev/null || apt-get install -y -q --no-install-recommends chromium
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.venv/bin/detector replay examples/trading-day/*.log.gz --report "$work/report.html" > /dev/null
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$work/profile" --hide-scrollbars --window-size=1200,1400 \
  --screenshot="$work/report.png" "file://$work/report.html" 2>/dev/null
mv "$work/report.png" docs/report.png
echo "docs/report.png updated"

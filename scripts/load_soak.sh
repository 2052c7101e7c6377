#!/usr/bin/env bash
# The load generator's own memory over a soak: `tailwatch load --profile
# soak` against the demo app (no traffic of its own), the generator's
# resident memory sampled every minute. Prints the samples and the growth
# after the first minute (issue 27 asks for at most 10 %).
# On demand, not in CI.
# Run with: scripts/load_soak.sh [minutes] [rate]   (default 30 minutes, 1000 req/s)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-30}
rate=${2:-1000}
cargo build --release -q -p tailwatch-cli
bin="${CARGO_TARGET_DIR:-target}/release/tailwatch"
out=$(mktemp -d)
"$bin" demo --no-traffic --listen 127.0.0.1:0 --agent-listen 127.0.0.1:0 \
  --duration $((minutes * 60 + 120)) --interval 3600 >"$out/demo.log" 2>&1 &
demo=$!
trap 'kill $demo 2>/dev/null || true' EXIT
app=""
for _ in $(seq 100); do
  app=$(awk '$1 == "app" {sub("http://", "", $2); sub("/$", "", $2); print $2; exit}' "$out/demo.log")
  [ -n "$app" ] && break
  sleep 0.1
done
[ -n "$app" ] || { echo "the demo did not start:"; cat "$out/demo.log"; exit 1; }
"$bin" load "http://$app/users/{id}" --profile soak --rate "$rate" \
  --duration "${minutes}m" --out "$out/report.json" >"$out/load.log" 2>&1 &
load=$!
echo "minute rss_kib"
for m in $(seq 0 "$minutes"); do
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$load/status" 2>/dev/null || echo "")
  [ -n "$rss" ] || break
  echo "$m $rss" | tee -a "$out/rss.txt"
  sleep 60
done
wait $load || true
tail -20 "$out/load.log"
awk 'NR == 2 {first = $2} {last = $2} END {printf "growth after the first minute: %.1f %% (%d → %d KiB)\n", 100 * (last - first) / first, first, last}' "$out/rss.txt"
echo "logs in $out"

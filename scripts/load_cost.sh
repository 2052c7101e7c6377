#!/usr/bin/env bash
# The load generator's own cost, pinned: the server on core 0, the
# generator on core 1 (this needs 2 cores), a trivial handler.
#   1. closed loop, 64 connections, 10 s: wrk -t1 against tailwatch load
#      --connections 64 (requests per second, and their ratio);
#   2. open model at half of tailwatch's closed-loop rate: achieved rate
#      against the target, schedule lag p99.
# Issue 27 asks for a ratio ≥ 0.8, the achieved rate within 1 % and a lag
# p99 under 1 ms. On demand, not in CI: the cores must be otherwise idle.
# Run with: scripts/load_cost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v taskset >/dev/null || { echo "taskset (util-linux) is needed"; exit 1; }
cargo build --release -q -p tailwatch-cli --examples --bins
target="${CARGO_TARGET_DIR:-target}/release"
out=$(mktemp -d)
taskset -c 0 "$target/examples/stall_server" 1e9 0 >"$out/server" 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s "$out/server" ] && break; sleep 0.1; done
addr=$(head -1 "$out/server")
wrk_rate=0
if command -v wrk >/dev/null; then
  wrk_rate=$(taskset -c 1 wrk -t1 -c64 -d10s "http://$addr/" | awk '/Requests\/sec/ {print $2}')
  echo "wrk -t1 -c64: $wrk_rate req/s"
else
  echo "SKIPPED: wrk not installed (apt-get install wrk)"
fi
taskset -c 1 "$target/tailwatch" load "http://$addr/" --connections 64 --duration 10s \
  --out "$out/closed.json" >/dev/null
tw_rate=$(python3 -c "import json; print(round(json.load(open('$out/closed.json'))['achieved_rate']))")
echo "tailwatch load --connections 64: $tw_rate req/s"
[ "$wrk_rate" != 0 ] && python3 -c "print(f'tailwatch / wrk: {$tw_rate / $wrk_rate:.2f}')"
half=$((tw_rate / 2))
taskset -c 1 "$target/tailwatch" load "http://$addr/" --rate "$half" --duration 10s \
  --out "$out/open.json" >/dev/null || true
python3 - "$out/open.json" "$half" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); target = float(sys.argv[2])
print(f"open model at {target:.0f} req/s: achieved {r['achieved_rate']:.1f} req/s "
      f"({100 * (r['achieved_rate'] - target) / target:+.2f} %), schedule lag p99 "
      f"{r['schedule_lag']['p99'] * 1e3:.3f} ms, valid {r['valid']}")
PY

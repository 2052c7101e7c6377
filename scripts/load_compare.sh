#!/usr/bin/env bash
# Coordinated omission, side by side: a server that answers in 1 ms but
# stalls once for 1 s, loaded for 30 s by
#   * tailwatch load, open model at 1,000 req/s (latency from the schedule),
#   * wrk (closed loop, 50 connections, its own after-the-fact correction),
#   * oha at 1,000 req/s, with and without --latency-correction, if
#     installed (`cargo install oha`).
# The truth for 30,000 requests at 1,000/s with a 1 s stall: p99 ≈ 0.70 s,
# p99.9 ≈ 0.97 s (every request due during the stall waits for its end).
# On demand, not in CI. Run with: scripts/load_compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p tailwatch-cli --examples --bins
target="${CARGO_TARGET_DIR:-target}/release"
run_server() {
  "$target/examples/stall_server" 10 1 >"$1" 2>/dev/null &
  server=$!
  for _ in $(seq 50); do [ -s "$1" ] && break; sleep 0.1; done
  addr=$(head -1 "$1")
}
out=$(mktemp -d)
echo "== tailwatch load (open model, 1000 req/s, 30 s)"
run_server "$out/s1"
"$target/tailwatch" load "http://$addr/work" --rate 1000 --duration 30s --max-connections 50 \
  --out "$out/tailwatch.json" | sed -n '/p50/,/uncorrected/p'
kill $server
if command -v wrk >/dev/null; then
  echo "== wrk -t1 -c50 -d30s --latency (closed loop)"
  run_server "$out/s2"
  wrk -t1 -c50 -d30s --latency "http://$addr/work" | sed -n '/Latency Distribution/,/99%/p'
  kill $server
else
  echo "SKIPPED: wrk not installed (apt-get install wrk)"
fi
if command -v oha >/dev/null; then
  for corr in "" "--latency-correction"; do
    echo "== oha -q 1000 -z 30s $corr"
    run_server "$out/s3"
    oha --no-tui -q 1000 -z 30s -c 50 $corr "http://$addr/work" | sed -n '/Response time distribution/,/99.99%/p'
    kill $server
  done
else
  echo "SKIPPED: oha not installed (cargo install oha)"
fi
echo "truth: p99 ≈ 0.70 s, p99.9 ≈ 0.97 s; reports in $out"

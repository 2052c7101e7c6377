#!/usr/bin/env bash
# Soak: the demo under its own traffic for a long time, scraped every second
# (text, gzip, protobuf, /stats and /health in turn), its resident memory and
# open file descriptors sampled every 30 s. Fails if either keeps growing
# (last sample vs the one at a fifth of the run) beyond the allowance.
# On demand, not in CI.
# Run with: scripts/soak.sh [minutes] [rps]      (default 30 minutes, 500 rps)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-30}
rps=${2:-500}
seconds=$((minutes * 60))
cargo build --release -q -p tailwatch-cli
bin="${CARGO_TARGET_DIR:-target}/release/tailwatch"
out=$(mktemp -d)
: >"$out/scrape-errors.log"
"$bin" demo --listen 127.0.0.1:0 --agent-listen 127.0.0.1:0 --rps "$rps" \
  --duration "$seconds" --interval 60 >"$out/demo.log" 2>&1 &
demo=$!
trap 'kill $demo 2>/dev/null || true; kill $scraper 2>/dev/null || true' EXIT
agent=""
for _ in $(seq 100); do
  agent=$(awk '/metrics/ && /http:/ {sub("http://", "", $2); sub("/metrics", "", $2); print $2; exit}' "$out/demo.log")
  [ -n "$agent" ] && break
  sleep 0.1
done
[ -n "$agent" ] || { echo "the demo did not start:"; cat "$out/demo.log"; exit 1; }
echo "demo pid $demo, agent $agent, $minutes min at $rps req/s; logs in $out"

proto='application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited'
(
  n=0
  while kill -0 $demo 2>/dev/null; do
    case $((n % 5)) in
      0) curl -sf "http://$agent/metrics" -o /dev/null ;;
      1) curl -sf --compressed "http://$agent/metrics" -o /dev/null ;;
      2) curl -sf -H "Accept: $proto" "http://$agent/metrics" -o /dev/null ;;
      3) curl -sf "http://$agent/stats" -o /dev/null ;;
      4) curl -s "http://$agent/health" -o /dev/null ;;
    esac || echo "scrape $n failed" >>"$out/scrape-errors.log"
    n=$((n + 1))
    sleep 1
  done
  echo "$n" >"$out/scrapes"
) &
scraper=$!

printf '%8s %12s %6s\n' "seconds" "rss_kib" "fds" | tee "$out/samples"
start=$(date +%s)
while kill -0 $demo 2>/dev/null; do
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$demo/status" 2>/dev/null || echo 0)
  fds=$(ls "/proc/$demo/fd" 2>/dev/null | wc -l)
  [ "$rss" = 0 ] && break
  printf '%8d %12d %6d\n' $(($(date +%s) - start)) "$rss" "$fds" | tee -a "$out/samples"
  sleep 30
done
wait $demo
status=$?
wait $scraper || true
echo "demo exited $status; scrapes: $(cat "$out/scrapes" 2>/dev/null || echo ?), failed: $(wc -l <"$out/scrape-errors.log" 2>/dev/null || echo 0)"
tail -25 "$out/demo.log"
# Growth from a fifth of the run (after warm-up) to the end.
awk -v fifth=$((seconds / 5)) 'NR > 1 {
    if (!base && $1 >= fifth) { base = $2; basefd = $3 }
    last = $2; lastfd = $3; if ($2 > peak) peak = $2
  }
  END {
    printf "rss at %d s: %d KiB, at end: %d KiB (%+.1f%%), peak %d KiB; fds %d -> %d\n",
      fifth, base, last, 100 * (last - base) / base, peak, basefd, lastfd
    if (last > base * 1.10 || lastfd > basefd + 5) { print "FAIL: still growing"; exit 1 }
    print "OK: memory and fds flat"
  }' "$out/samples"
[ "$status" = 0 ]

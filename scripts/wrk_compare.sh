#!/usr/bin/env bash
# Loopback load test: bare router vs tailwatch vs axum-prometheus, rounds
# interleaved so that machine noise hits every variant alike.
# Run with: scripts/wrk_compare.sh [rounds] [seconds] [simple|mixed]   (needs `wrk`)
#   simple: one URL, wrk -c16, nothing pinned.
#   mixed:  /users/{id} over 1,000 ids (a quarter answer 500) and /health in
#           turn, wrk -c32; server pinned to CPU 0, wrk to CPU 1 (taskset).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-6}
seconds=${2:-5}
mode=${3:-simple}
case $mode in
  simple) conns=16; pin_server=(); pin_wrk=(); lua=() ;;
  mixed)
    conns=32; pin_server=(taskset -c 0); pin_wrk=(taskset -c 1)
    script=$(mktemp --suffix=.lua)
    cat >"$script" <<'LUA'
local n = 0
request = function()
  n = n + 1
  if n % 2 == 0 then return wrk.format("GET", "/health") end
  return wrk.format("GET", "/users/" .. (n % 1000))
end
LUA
    lua=(-s "$script") ;;
  *) echo "mode is simple or mixed"; exit 2 ;;
esac
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)"; exit 1; }
cargo build --release --example http_target -q
bin="${CARGO_TARGET_DIR:-target}/release/examples/http_target"
variants=(bare tailwatch axum-prometheus)
ports=(3101 3102 3103)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
for i in "${!variants[@]}"; do
  "${pin_server[@]}" "$bin" "${variants[$i]}" "127.0.0.1:${ports[$i]}" 2>/dev/null &
  pids+=($!)
done
for port in "${ports[@]}"; do
  for _ in $(seq 100); do curl -s "http://127.0.0.1:$port/users/1" >/dev/null && break; sleep 0.05; done
done
declare -A results
for r in $(seq "$rounds"); do
  for i in "${!variants[@]}"; do
    rps=$("${pin_wrk[@]}" wrk -t1 -c"$conns" -d"${seconds}s" "${lua[@]}" "http://127.0.0.1:${ports[$i]}/users/7" | awk '/Requests\/sec/ {print $2}')
    results[${variants[$i]}]+="$rps "
    echo "round $r ${variants[$i]}: $rps req/s"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
bare=$(echo "${results[bare]}" | median)
echo
echo "median req/s over $rounds rounds of ${seconds}s ($mode: wrk -t1 -c$conns, server on 1 worker):"
for v in "${variants[@]}"; do
  m=$(echo "${results[$v]}" | median)
  awk -v v="$v" -v m="$m" -v b="$bare" 'BEGIN {printf "  %-16s %10.0f  %.3f of bare\n", v, m, m / b}'
done

#!/usr/bin/env bash
# Every figure of docs/performance.md, in one run: the criterion benches
# (tailwatch and its peers side by side), the counting-allocator and
# accuracy tests, and wrk over loopback. Raw outputs go to $OUT
# (default target/performance-<date>/). Takes about 40 minutes on 2 cores.
#
# Run with: scripts/performance.sh   (honours CARGO_TARGET_DIR; needs wrk,
# prometheus and protoc for the parts that use them)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-${CARGO_TARGET_DIR:-target}/performance-$(date -u +%Y-%m-%d)}"
mkdir -p "$out"
{
  date -u
  uname -srm
  nproc
  grep -m1 'model name' /proc/cpuinfo
  rustc --version
} >"$out/machine.txt"
# Shorter than criterion's defaults (3 s warm-up, 5 s measurement) so the
# whole run fits; the ratios are what docs/performance.md reports.
crit=(-- --warm-up-time 1 --measurement-time 3)
for bench in record measure http scrape pool; do
  echo "== cargo bench --bench $bench"
  cargo bench --bench "$bench" "${crit[@]}" >"$out/bench-$bench.txt" 2>&1
done
echo "== cargo bench -p tailwatch-bench-peers --bench protobuf"
cargo bench -p tailwatch-bench-peers --bench protobuf "${crit[@]}" >"$out/bench-protobuf.txt" 2>&1
for t in memory http_alloc facade_memory; do
  echo "== cargo test --release --test $t -- --nocapture"
  cargo test --release --test "$t" -- --nocapture >"$out/test-$t.txt" 2>&1
done
for t in accuracy native_histograms; do
  echo "== cargo test --release --test it $t -- --nocapture"
  cargo test --release --test it "$t" -- --nocapture >"$out/test-$t.txt" 2>&1
done
echo "== scripts/wrk_compare.sh 6 5"
scripts/wrk_compare.sh 6 5 >"$out/wrk.txt" 2>&1
echo "raw outputs in $out"

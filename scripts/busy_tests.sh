#!/usr/bin/env bash
# `cargo test --release` three times while two busy loops keep both cores
# busy: no test may depend on the scheduler's luck.
#
# Run with: scripts/busy_tests.sh   (honours CARGO_TARGET_DIR)
set -uo pipefail
cd "$(dirname "$0")/.."
cargo test --release --no-run >/dev/null 2>&1 || { echo "build failed"; exit 1; }
yes >/dev/null & a=$!
yes >/dev/null & b=$!
trap 'kill $a $b 2>/dev/null' EXIT
failed=0
for run in 1 2 3; do
  if cargo test --release >"${TMPDIR:-/tmp}/busy-tests-$run.log" 2>&1; then
    echo "run $run: passed ($(grep -c '^test .* ok$' "${TMPDIR:-/tmp}/busy-tests-$run.log") tests)"
  else
    failed=$((failed + 1))
    echo "run $run: FAILED:"
    grep -E '^test .* FAILED$|panicked at' "${TMPDIR:-/tmp}/busy-tests-$run.log"
  fi
done
echo "$failed of 3 runs failed"
[ "$failed" -eq 0 ]

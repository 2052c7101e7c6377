#!/usr/bin/env bash
# The demo on an 80×24 terminal: no line wraps, and the table redraws in
# place (one header on screen, at the same row, with a newer time).
#
# Run with: scripts/demo_tmux.sh   (needs tmux; honours CARGO_TARGET_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v tmux >/dev/null || { echo "SKIPPED: tmux not installed (apt-get install tmux)"; exit 0; }
cargo build --release -q -p tailwatch-cli
bin="${CARGO_TARGET_DIR:-target}/release/tailwatch"
session="tailwatch-demo-$$"
trap 'tmux kill-session -t "$session" 2>/dev/null || true' EXIT
tmux new-session -d -s "$session" -x 80 -y 24 \
  "$bin demo --listen 127.0.0.1:0 --agent-listen 127.0.0.1:0 --interval 1 --duration 20; sleep 30"

frame() {
  # -J joins wrapped lines: a line wider than the pane comes back longer than 80.
  tmux capture-pane -p -J -t "$session"
}
header_rows() { grep -n 'rate/s' | cut -d: -f1 | tr '\n' ' '; }

for _ in $(seq 100); do
  frame | grep -q 'rate/s' && break
  sleep 0.2
done
sleep 2.5
first="$(frame)"
sleep 3
second="$(frame)"

status=0
echo "--- the pane after about 6 s (80x24):"
echo "$second"
echo "---"
for f in "$first" "$second"; do
  # Characters, not bytes (µ is two bytes in UTF-8).
  long="$(printf '%s\n' "$f" | python3 -c 'import sys
for l in sys.stdin.read().splitlines():
    if len(l) > 80: print(len(l), l)')"
  if [ -n "$long" ]; then echo "FAIL: lines wider than 80 columns:"; echo "$long"; status=1; fi
done
# The whole scrollback: redrawn in place, it holds one table; appended
# blocks would leave every earlier table above it.
headers="$(tmux capture-pane -p -J -S - -t "$session" | grep -c 'rate/s' || true)"
if [ "$headers" != 1 ]; then
  echo "FAIL: $headers tables in the scrollback (expected one, redrawn in place)"
  status=1
fi
if ! printf '%s\n' "$second" | head -1 | grep -q '^tailwatch demo'; then
  echo "FAIL: the banner scrolled off the screen"
  status=1
fi
rows1="$(printf '%s\n' "$first" | header_rows)"
rows2="$(printf '%s\n' "$second" | header_rows)"
if [ "$(echo $rows1 | wc -w)" != 1 ] || [ "$rows1" != "$rows2" ]; then
  echo "FAIL: the table is not redrawn in place (header rows: '$rows1' then '$rows2')"
  status=1
fi
t1="$(printf '%s\n' "$first" | grep 'rate/s' | awk '{print $1}')"
t2="$(printf '%s\n' "$second" | grep 'rate/s' | awk '{print $1}')"
if [ "$t1" = "$t2" ]; then echo "FAIL: the table did not change ($t1 s both times)"; status=1; fi
[ "$status" = 0 ] && echo "OK: no line over 80 columns; one table, redrawn in place at row $rows2 (${t1} s → ${t2} s)"
exit "$status"

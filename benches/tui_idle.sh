#!/usr/bin/env bash
# Idle CPU and memory of the TUI: starts the release binary in a detached tmux
# session, lets it sit for N seconds (default 30) and reads its CPU time and
# RSS from /proc. With no --context, kubetutor runs its embedded sandbox in
# the same process, so the figures include the sandbox (API server, store,
# watchers, checker).
# Usage: bash benches/tui_idle.sh [SECONDS]   (KUBETUTOR_BIN=path: that binary;
# KUBETUTOR_IDLE_KEYS="t": tmux keys sent before measuring, e.g. to open the
# shell pane; its shell sits at its prompt and counts too)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
bin=${KUBETUTOR_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet
  bin=./target/release/kubetutor
fi
data=$(mktemp -d)
sock="kubetutor-bench-$$"
trap 'tmux -L "$sock" kill-server 2>/dev/null || true; sleep 1; rm -rf "$data" 2>/dev/null || true' EXIT
tmux -L "$sock" -f /dev/null new-session -d -s b -x 120 -y 40 \
  "KUBETUTOR_DATA_DIR=$data exec $bin"
sleep 5
if [ -n "${KUBETUTOR_IDLE_KEYS:-}" ]; then
  # shellcheck disable=SC2086
  tmux -L "$sock" send-keys -t b $KUBETUTOR_IDLE_KEYS
  sleep 3
fi
pid=$(tmux -L "$sock" display -p -t b '#{pane_pid}')
tick=$(getconf CLK_TCK)
# The pane's shell (a child of kubetutor) counts too.
kids=$(pgrep -P "$pid" || true)
kid_ticks() {
  local t=0 k
  for k in $kids; do
    if [ -r "/proc/$k/stat" ]; then t=$((t + $(awk '{print $14 + $15}' "/proc/$k/stat"))); fi
  done
  echo "$t"
}
read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
k0=$(kid_ticks)
sleep "$secs"
read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
k1=$(kid_ticks)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
[ -n "$kids" ] && echo "shell pane open: its shell ($(echo $kids)) counted with kubetutor"
cpu_ms=$(( (u1 - u0 + s1 - s0 + k1 - k0) * 1000 / tick ))
awk -v ms="$cpu_ms" -v s="$secs" -v rss="$rss" -v hwm="$hwm" 'BEGIN {
  printf "idle for %d s: CPU time %d ms (%.3f %% of one core); RSS %.1f MiB (peak %.1f MiB)\n",
         s, ms, ms / (s * 10.0), rss / 1024, hwm / 1024 }'

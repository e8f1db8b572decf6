#!/usr/bin/env bash
# Idle CPU and memory of the TUI: starts the release binary in a detached tmux
# session, lets it sit for N seconds (default 30) and reads its CPU time and
# RSS from /proc. With no --context, kubetutor runs its embedded sandbox in
# the same process, so the figures include the sandbox (API server, store,
# watchers, checker).
# Usage: bash benches/tui_idle.sh [SECONDS]   (KUBETUTOR_BIN=path: that binary)
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
pid=$(tmux -L "$sock" display -p -t b '#{pane_pid}')
tick=$(getconf CLK_TCK)
read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
sleep "$secs"
read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
cpu_ms=$(( (u1 - u0 + s1 - s0) * 1000 / tick ))
awk -v ms="$cpu_ms" -v s="$secs" -v rss="$rss" -v hwm="$hwm" 'BEGIN {
  printf "idle for %d s: CPU time %d ms (%.3f %% of one core); RSS %.1f MiB (peak %.1f MiB)\n",
         s, ms, ms / (s * 10.0), rss / 1024, hwm / 1024 }'

#!/usr/bin/env bash
# Throughput of `soroka serve`: jobs/minute running one job at a time vs two in parallel.
# Usage: bench/serve-throughput.sh [BUILD_DIR] [JOBS]   (loopback only; needs curl, flite, sox)
set -euo pipefail
build=${1:-build}
jobs=${2:-6}
soroka="$build/soroka"
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
flite -t "the quick brown fox jumps over the lazy dog while the service transcribes this sentence" -o "$work/speech.wav"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SOROKA_LOG_LEVEL=warn "$soroka" serve --listen "127.0.0.1:$port" --state-dir "$work/state" 2>"$work/serve.log" &
pid=$!
for _ in $(seq 100); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
one() { curl -sf -F file=@"$work/speech.wav" "127.0.0.1:$port/v1/audio/transcriptions" >/dev/null; }
# Warm-up: the first job teaches the scheduler the worker's real peak (reservations shrink).
one
t0=$(date +%s.%N)
for _ in $(seq "$jobs"); do one; done
t1=$(date +%s.%N)
for _ in $(seq $((jobs / 2))); do one & a=$!; one & b=$!; wait "$a" "$b"; done
t2=$(date +%s.%N)
python3 - "$jobs" "$t0" "$t1" "$t2" <<'PY'
import sys
n, t0, t1, t2 = int(sys.argv[1]), *map(float, sys.argv[2:])
seq, par = n / (t1 - t0) * 60, (n // 2 * 2) / (t2 - t1) * 60
print(f"one at a time: {seq:.1f} jobs/min ({t1-t0:.1f} s for {n})")
print(f"two in parallel: {par:.1f} jobs/min ({t2-t1:.1f} s for {n//2*2})")
print(f"ratio parallel/sequential: {par/seq:.2f}x")
PY

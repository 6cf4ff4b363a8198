#!/usr/bin/env bash
# A remote engine's front: `soroka transcribe --model remote` against 1, 2 and 4 `soroka serve`
# back ends on loopback (the remote engine's URLs), on SOROKA_BENCH_MINUTES of speech (default
# 60). Reports throughput (audio seconds per wall second), the front's CPU seconds per audio
# hour and its peak RSS; then the front's peak RSS on the long input against 1 minute (goal:
# ratio <= 1.15, memory flat in the input's length).
# SOROKA_BENCH_BACKEND: the back ends' model, pocketsphinx (default: real recognition, so the
# back ends' CPU bounds throughput on a small host) or a sim-* model (engine.simulation: a
# fixed ~1 s of "work" per chunk, which shows the front's own cost and the scaling with back
# ends without the back ends' CPU in the way).
set -euo pipefail
BUILD_DIR=${1:-build}
SOROKA="$(cd "$(dirname "$BUILD_DIR/soroka")" && pwd)/soroka"
MINUTES=${SOROKA_BENCH_MINUTES:-60}
BACKEND=${SOROKA_BENCH_BACKEND:-pocketsphinx}
COUNTS=${SOROKA_BENCH_BACKENDS:-"1 2 4"}
KEY=sk-bench-remote-0123456789
. "$(dirname "$0")/lib/speech.bash"
bench_tmpdir
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$BENCH_TMP"
}
trap cleanup EXIT

flite_minute "$BENCH_TMP/minute.wav"
repeat_encode "$BENCH_TMP/minute.wav" 1 "$BENCH_TMP/short.ogg"
repeat_encode "$BENCH_TMP/minute.wav" "$MINUTES" "$BENCH_TMP/long.ogg"
audio_s=$((MINUTES * 60))

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts n back ends; writes the front's config with their URLs, max_concurrency $2 (default
# 2n) and chunk_seconds $3 (default 60).
start_backends() {
  local n=$1 conc=${2:-$((2 * $1))} chunk=${3:-60} urls="" sim=false
  case $BACKEND in sim-*) sim=true ;; esac
  for i in $(seq 1 "$n"); do
    local port
    port=$(free_port)
    SOROKA_SERVER_API_KEYS=$KEY SOROKA_ENGINE_SIMULATION=$sim SOROKA_LOG_LEVEL=warn \
      "$SOROKA" serve --listen "127.0.0.1:$port" --state-dir "$BENCH_TMP/back$n-$i" \
      > "$BENCH_TMP/back$n-$i.log" 2>&1 &
    PIDS+=($!)
    urls+="\"http://127.0.0.1:$port/v1\","
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done
  done
  local model=""
  [ "$BACKEND" != pocketsphinx ] && model="model = \"$BACKEND\""
  cat > "$BENCH_TMP/front.toml" <<TOML
[engines.remote]
type = "openai"
urls = [${urls%,}]
api_key = "$KEY"
$model
max_concurrency = $conc
chunk_seconds = $chunk
timeout_ms = 600000
TOML
}

stop_backends() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
}

# Runs the front under /usr/bin/time; sets ELAPSED, MAXRSS (KiB), CPU (user + sys seconds).
front() {
  local log="$BENCH_TMP/time.front"
  /usr/bin/time -f '%e %M %U %S' -o "$log" \
    "$SOROKA" --config "$BENCH_TMP/front.toml" transcribe -q --model remote "$1" > "$2"
  read -r ELAPSED MAXRSS user sys < "$log"
  CPU=$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')
}

for n in $COUNTS; do
  start_backends "$n"
  front "$BENCH_TMP/long.ogg" "$BENCH_TMP/long.txt"
  awk -v n="$n" -v a="$audio_s" -v e="$ELAPSED" -v r="$MAXRSS" -v c="$CPU" -v b="$BACKEND" \
      -v w="$(wc -w < "$BENCH_TMP/long.txt")" 'BEGIN {
    printf "remote-engine: %d back end(s) (%s): %d min in %.1f s = %.1fx realtime; front %.1f CPU s per audio hour, peak RSS %.1f MiB (%d words)\n",
      n, b, a / 60, e, a / e, c * 3600 / a, r / 1024, w
  }'
  stop_backends
done

# Memory: 30 s chunks, two in flight, so that the 1-minute input already holds as many chunks
# at once as the hour will (with 8 in flight the minute could not fill them: the comparison
# would measure the in-flight bound, which session_bytes accounts, not growth with length).
start_backends 1 2 30
front "$BENCH_TMP/short.ogg" "$BENCH_TMP/short.txt"
short_rss=$MAXRSS
front "$BENCH_TMP/long.ogg" "$BENCH_TMP/long.txt"
long_rss=$MAXRSS
stop_backends
awk -v s="$short_rss" -v l="$long_rss" -v m="$MINUTES" 'BEGIN {
  r = l / s
  printf "remote-engine: front peak RSS 1 min %.1f MiB, %d min %.1f MiB: ratio %.3f (goal <= 1.15): %s\n",
    s / 1024, m, l / 1024, r, (r <= 1.15 ? "PASS" : "FAIL")
  exit (r <= 1.15 ? 0 : 1)
}'

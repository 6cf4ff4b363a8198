#!/usr/bin/env bash
# Peak RSS of `soroka transcribe` on 60 min of speech against 1 min of the same speech
# density (the minute repeated), in the same run. Goal: ratio <= 1.15 (memory does not grow
# with the input). SOROKA_BENCH_MINUTES shortens the long input for a quick look.
set -euo pipefail
BUILD_DIR=${1:-build}
SOROKA="$BUILD_DIR/soroka"
MINUTES=${SOROKA_BENCH_MINUTES:-60}
. "$(dirname "$0")/lib/speech.bash"
bench_tmpdir

flite_minute "$BENCH_TMP/minute.wav"
repeat_encode "$BENCH_TMP/minute.wav" 1 "$BENCH_TMP/short.ogg"
repeat_encode "$BENCH_TMP/minute.wav" "$MINUTES" "$BENCH_TMP/long.ogg"

measure "$SOROKA" transcribe -q "$BENCH_TMP/short.ogg" > "$BENCH_TMP/short.txt"
short_rss=$MAXRSS short_s=$ELAPSED
measure "$SOROKA" transcribe -q "$BENCH_TMP/long.ogg" > "$BENCH_TMP/long.txt"
long_rss=$MAXRSS long_s=$ELAPSED

words_short=$(wc -w < "$BENCH_TMP/short.txt")
words_long=$(wc -w < "$BENCH_TMP/long.txt")
awk -v s="$short_rss" -v l="$long_rss" -v m="$MINUTES" -v ss="$short_s" -v ls="$long_s" \
    -v ws="$words_short" -v wl="$words_long" 'BEGIN {
  r = l / s
  printf "transcribe-memory: 1 min: %.1f MiB peak RSS (%d words, %.1f s)\n", s / 1024, ws, ss
  printf "transcribe-memory: %d min: %.1f MiB peak RSS (%d words, %.1f s)\n", m, l / 1024, wl, ls
  printf "transcribe-memory: ratio %.3f (goal <= 1.15): %s\n", r, (r <= 1.15 ? "PASS" : "FAIL")
  exit (r <= 1.15 ? 0 : 1)
}'

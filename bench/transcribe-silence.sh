#!/usr/bin/env bash
# What one hour of silence appended to a minute of speech costs `soroka transcribe`: the
# segmenter should skip it at decoding speed. Goal: < 20 s added.
set -euo pipefail
BUILD_DIR=${1:-build}
SOROKA="$BUILD_DIR/soroka"
. "$(dirname "$0")/lib/speech.bash"
bench_tmpdir

flite_minute "$BENCH_TMP/minute.wav"
sox -n -r 16000 -c 1 -b 16 "$BENCH_TMP/hour.wav" trim 0 3600
sox "$BENCH_TMP/minute.wav" "$BENCH_TMP/hour.wav" "$BENCH_TMP/with-silence.wav"
rm "$BENCH_TMP/hour.wav"
ffmpeg -nostdin -v error -y -i "$BENCH_TMP/minute.wav" "$BENCH_TMP/speech.ogg"
ffmpeg -nostdin -v error -y -i "$BENCH_TMP/with-silence.wav" "$BENCH_TMP/speech+silence.ogg"
rm "$BENCH_TMP/with-silence.wav"

measure "$SOROKA" transcribe -q "$BENCH_TMP/speech.ogg" > "$BENCH_TMP/a.txt"
a=$ELAPSED
measure "$SOROKA" transcribe -q "$BENCH_TMP/speech+silence.ogg" > "$BENCH_TMP/b.txt"
b=$ELAPSED
same=$(cmp -s "$BENCH_TMP/a.txt" "$BENCH_TMP/b.txt" && echo "identical" || echo "DIFFERENT")
awk -v a="$a" -v b="$b" -v same="$same" 'BEGIN {
  d = b - a
  printf "transcribe-silence: 1 min speech %.2f s; + 1 h silence %.2f s; transcripts %s\n", a, b, same
  printf "transcribe-silence: the hour of silence added %.2f s (goal < 20 s): %s\n", d, (d < 20 ? "PASS" : "FAIL")
  exit (d < 20 ? 0 : 1)
}'

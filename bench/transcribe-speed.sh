#!/usr/bin/env bash
# Wall time of `soroka transcribe` against `pocketsphinx_continuous -infile X.wav` with the
# same model on the same 16 kHz WAV (LibriVox read speech repeated to ~5 min), alternating
# runs, medians compared. Goal: ratio <= 1.10. Also reports the real-time factor.
set -euo pipefail
BUILD_DIR=${1:-build}
SOROKA="$BUILD_DIR/soroka"
RUNS=${SOROKA_BENCH_RUNS:-3}
REPEATS=${SOROKA_BENCH_REPEATS:-11}  # 11 x 26.6 s = 4.9 min
. "$(dirname "$0")/lib/speech.bash"
bench_tmpdir

librivox_joined "$BENCH_TMP/joined.wav"
repeat_encode "$BENCH_TMP/joined.wav" "$REPEATS" "$BENCH_TMP/x.wav"
audio_s=$(soxi -D "$BENCH_TMP/x.wav")

ours=() theirs=()
for _ in $(seq "$RUNS"); do
  measure "$SOROKA" transcribe -q "$BENCH_TMP/x.wav" > /dev/null
  ours+=("$ELAPSED")
  measure pocketsphinx_continuous "${PSC_ARGS[@]}" -infile "$BENCH_TMP/x.wav" -logfn /dev/null > /dev/null
  theirs+=("$ELAPSED")
done
o=$(median "${ours[@]}") t=$(median "${theirs[@]}")
awk -v o="$o" -v t="$t" -v a="$audio_s" -v ro="${ours[*]}" -v rt="${theirs[*]}" 'BEGIN {
  r = o / t
  printf "transcribe-speed: %.1f s of audio, %s run(s) each\n", a, split(ro, x, " ")
  printf "transcribe-speed: soroka transcribe      %.2f s (runs: %s), RTF %.3f\n", o, ro, o / a
  printf "transcribe-speed: pocketsphinx_continuous %.2f s (runs: %s), RTF %.3f\n", t, rt, t / a
  printf "transcribe-speed: ratio %.3f (goal <= 1.10): %s\n", r, (r <= 1.10 ? "PASS" : "FAIL")
  exit (r <= 1.10 ? 0 : 1)
}'

#!/usr/bin/env bash
# Diarization: DER over the generated dev set (overall, worst dialogue, speaker-count
# accuracy), memory (peak RSS of decode+segment+diarize for 60 min of dialogue vs 1 min, goal
# <= 1.2x) and speed (diarization CPU seconds per audio hour, and against `soroka transcribe`
# wall time on the same 5 min, goal <= 15 %). Goals on DER: <= 4 % overall, every count right,
# no dialogue above 12 %. Usage: bench/diarize.sh [BUILD_DIR] [SEED=11]
set -euo pipefail
BUILD_DIR=${1:-build}
SEED=${2:-11}
HERE=$(cd "$(dirname "$0")" && pwd)
RUN="$BUILD_DIR/soroka-diarize-run"
DER="$BUILD_DIR/soroka-der"
. "$HERE/lib/speech.bash"
bench_tmpdir
DEV="$BENCH_TMP/devset"

python3 "$HERE/../tests/diarize/make-devset.py" "$DEV" "$SEED" > /dev/null
: > "$BENCH_TMP/der.txt"
while read -r name speakers _; do
  "$RUN" "$DEV/$name.wav" "$BENCH_TMP/$name.hyp" > /dev/null
  echo "$name $speakers $("$DER" "$DEV/$name.rttm" "$BENCH_TMP/$name.hyp")" >> "$BENCH_TMP/der.txt"
done < "$DEV/devset.tsv"
awk '{
  # name speakers DER d missed m false_alarm f confusion c scored s ref_speakers r hyp_speakers h
  err += $6 + $8 + $10; scored += $12; n++; ok += ($16 == $2)
  printf "diarize: %-22s DER %6.2f %%  speakers %d found %d\n", $1, 100 * $4, $2, $16
  if ($4 > worst) { worst = $4; wname = $1 }
} END {
  d = err / scored
  printf "diarize: overall DER %.2f %% (goal <= 4 %%): %s\n", 100 * d, (d <= 0.04 ? "PASS" : "FAIL")
  printf "diarize: worst dialogue %s %.2f %% (goal <= 12 %%): %s\n", wname, 100 * worst, (worst <= 0.12 ? "PASS" : "FAIL")
  printf "diarize: speaker count right on %d/%d dialogues: %s\n", ok, n, (ok == n ? "PASS" : "FAIL")
}' "$BENCH_TMP/der.txt" | tee "$BENCH_TMP/report.txt"

# 60 min of dialogue: the dev set's dialogues joined and repeated; 1 min: its first minute.
parts=()
while read -r name _; do parts+=("$DEV/$name.wav"); done < "$DEV/devset.tsv"
sox "${parts[@]}" "$BENCH_TMP/joined.wav"
joined_s=$(soxi -D "$BENCH_TMP/joined.wav")
reps=$(awk -v j="$joined_s" 'BEGIN { print int(3600 / j) + 1 }')
repeat_encode "$BENCH_TMP/joined.wav" "$reps" "$BENCH_TMP/long-raw.wav"
sox "$BENCH_TMP/long-raw.wav" "$BENCH_TMP/60min.wav" trim 0 3600
rm -f "$BENCH_TMP/long-raw.wav"
sox "$BENCH_TMP/60min.wav" "$BENCH_TMP/1min.wav" trim 0 60
sox "$BENCH_TMP/60min.wav" "$BENCH_TMP/5min.wav" trim 0 300

measure "$RUN" "$BENCH_TMP/1min.wav" > /dev/null
rss1=$MAXRSS
measure "$RUN" "$BENCH_TMP/60min.wav" > "$BENCH_TMP/long.out"
rss60=$MAXRSS
read -r _ audio_s _ dia_s _ turns _ found < "$BENCH_TMP/long.out"
awk -v a="$rss1" -v b="$rss60" -v t="$turns" -v f="$found" 'BEGIN {
  r = b / a
  printf "diarize: peak RSS 1 min %.1f MiB, 60 min %.1f MiB (%d turns, %d speakers found): ratio %.3f (goal <= 1.2): %s\n",
    a / 1024, b / 1024, t, f, r, (r <= 1.2 ? "PASS" : "FAIL")
}' | tee -a "$BENCH_TMP/report.txt"
awk -v d="$dia_s" -v a="$audio_s" 'BEGIN {
  printf "diarize: %.1f s of diarization for %.0f s of audio: %.1f s per audio hour\n", d, a, d * 3600 / a
}'

"$RUN" "$BENCH_TMP/5min.wav" > "$BENCH_TMP/short.out"
read -r _ _ _ dia5 _ < "$BENCH_TMP/short.out"
measure "$BUILD_DIR/soroka" transcribe -q "$BENCH_TMP/5min.wav" > /dev/null
awk -v d="$dia5" -v t="$ELAPSED" 'BEGIN {
  r = d / t
  printf "diarize: 5 min: diarization %.2f s, soroka transcribe %.1f s wall: %.2f %% (goal <= 15 %%): %s\n",
    d, t, 100 * r, (r <= 0.15 ? "PASS" : "FAIL")
}' | tee -a "$BENCH_TMP/report.txt"
# Exit status: 1 when any goal is missed.
! grep -q FAIL "$BENCH_TMP/report.txt"

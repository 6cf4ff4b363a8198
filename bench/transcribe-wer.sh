#!/usr/bin/env bash
# Word error rate of `soroka transcribe` against `pocketsphinx_continuous` (same model) on the
# LibriVox recordings of pocketsphinx-testdata and their reference transcripts.
# Goal: soroka's WER at most 2 points above pocketsphinx_continuous's.
set -euo pipefail
BUILD_DIR=${1:-build}
SOROKA="$BUILD_DIR/soroka"
HERE=$(dirname "$0")
. "$HERE/lib/speech.bash"
bench_tmpdir

# "<s> words </s> (id)" -> "id<TAB>words"
sed -E 's/<\/?s>//g; s/^ *(.*[^ ]) *\(([^)]+)\)$/\2\t\1/' "$LIBRIVOX_DIR/transcription" > "$BENCH_TMP/ref.tsv"
: > "$BENCH_TMP/soroka.tsv"
: > "$BENCH_TMP/psc.tsv"
while IFS= read -r id; do
  wav="$LIBRIVOX_DIR/$id.wav"
  printf '%s\t%s\n' "$id" "$("$SOROKA" transcribe -q "$wav" | tr '\n' ' ')" >> "$BENCH_TMP/soroka.tsv"
  printf '%s\t%s\n' "$id" "$(pocketsphinx_continuous "${PSC_ARGS[@]}" -infile "$wav" -logfn /dev/null | tr '\n' ' ')" >> "$BENCH_TMP/psc.tsv"
done < "$LIBRIVOX_DIR/fileids"

read -r ours oe on < <(python3 "$HERE/lib/wer.py" "$BENCH_TMP/ref.tsv" "$BENCH_TMP/soroka.tsv" ${VERBOSE:+-v})
read -r theirs te tn < <(python3 "$HERE/lib/wer.py" "$BENCH_TMP/ref.tsv" "$BENCH_TMP/psc.tsv" ${VERBOSE:+-v})
awk -v o="$ours" -v t="$theirs" -v oe="$oe" -v te="$te" -v n="$on" 'BEGIN {
  d = o - t
  printf "transcribe-wer: %d reference words (LibriVox, pocketsphinx-testdata)\n", n
  printf "transcribe-wer: soroka transcribe       WER %.2f %% (%d errors)\n", o, oe
  printf "transcribe-wer: pocketsphinx_continuous WER %.2f %% (%d errors)\n", t, te
  printf "transcribe-wer: difference %+.2f points (goal <= +2): %s\n", d, (d <= 2 ? "PASS" : "FAIL")
  exit (d <= 2 ? 0 : 1)
}'

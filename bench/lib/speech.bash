# Shared by the transcribe-*.sh benchmarks: model paths, speech generation, timing helpers.
# Sourced, not run (bench/run-all.sh runs bench/*.sh only).

MODEL_DIR=${SOROKA_MODEL_DIR:-/usr/share/pocketsphinx/model/en-us}
LIBRIVOX_DIR=/usr/share/pocketsphinx/test/data/librivox
PSC_ARGS=(-hmm "$MODEL_DIR/en-us" -lm "$MODEL_DIR/en-us.lm.bin" -dict "$MODEL_DIR/cmudict-en-us.dict")

# A scratch directory removed on exit.
bench_tmpdir() {
  BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/soroka-bench-XXXXXX")
  trap 'rm -rf "$BENCH_TMP"' EXIT
}

# The LibriVox sentences of pocketsphinx-testdata, joined, with 0.5 s between them: 26.6 s
# of real read speech, 16 kHz mono WAV.
librivox_joined() {
  local out=$1 parts=() pause="$BENCH_TMP/pause.wav"
  sox -n -r 16000 -c 1 -b 16 "$pause" trim 0 0.5
  for f in "$LIBRIVOX_DIR"/*.wav; do parts+=("$f" "$pause"); done
  sox "${parts[@]}" "$out"
}

# One minute of flite speech (three voices taking turns, 0.6 s pauses between sentences),
# 16 kHz mono WAV; padded with silence or cut to exactly 60 s.
flite_minute() {
  local out=$1 i=0 parts=() pause="$BENCH_TMP/pause06.wav"
  sox -n -r 16000 -c 1 -b 16 "$pause" trim 0 0.6
  local voices=(slt awb rms)
  local sentences=(
    "the weather is nice today and we will go for a long walk in the park"
    "please send the report to the office before noon on monday"
    "the children played in the garden until it was time for dinner"
    "we need to buy some bread and milk at the store this evening"
    "the meeting has been moved to thursday afternoon at three"
    "she opened the window and listened to the rain on the roof"
    "our train leaves at seven so we should get up early tomorrow"
    "he read the letter twice before he put it back in the drawer"
    "the new library will open next spring near the river"
    "after lunch we talked about the plans for the summer holiday"
    "the doctor said that he should rest for a few more days"
    "they painted the kitchen white and bought a new table"
  )
  for s in "${sentences[@]}"; do
    local v=${voices[$((i % 3))]} w="$BENCH_TMP/s$i.wav"
    flite -voice "$v" -t "$s" -o "$w"
    parts+=("$w" "$pause")
    i=$((i + 1))
  done
  sox "${parts[@]}" -r 16000 -c 1 -b 16 "$BENCH_TMP/minute-raw.wav"
  local have rest
  have=$(soxi -D "$BENCH_TMP/minute-raw.wav")
  rest=$(awk -v h="$have" 'BEGIN { r = 60 - h; printf "%.3f", (r > 0 ? r : 0) }')
  if [ "$rest" = 0.000 ]; then
    sox "$BENCH_TMP/minute-raw.wav" "$out" trim 0 60
  else
    sox "$BENCH_TMP/minute-raw.wav" "$out" pad 0 "$rest"
  fi
}

# Repeats a WAV n times and encodes the result (container from the extension).
repeat_encode() {
  local in=$1 n=$2 out=$3
  ffmpeg -nostdin -v error -y -stream_loop $((n - 1)) -i "$in" -ac 1 -ar 16000 "$out"
}

# Runs a command under /usr/bin/time; sets ELAPSED (s) and MAXRSS (KiB).
measure() {
  local log="$BENCH_TMP/time.$$"
  /usr/bin/time -f '%e %M' -o "$log" "$@"
  read -r ELAPSED MAXRSS < "$log"
}

# Median of the arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

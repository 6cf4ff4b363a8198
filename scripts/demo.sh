#!/usr/bin/env bash
# make demo: shows the memory guard's view of this machine, then transcribes sample audio.
set -euo pipefail
BUILD_DIR=${1:-build}
SOROKA="$BUILD_DIR/soroka"

echo "== soroka monitor --once (what the memory guard sees here)"
"$SOROKA" monitor --once
echo
echo "== soroka monitor --check-oom"
"$SOROKA" monitor --check-oom || true

# --- transcription ---
SAMPLES="$BUILD_DIR/samples"
LIBRIVOX=/usr/share/pocketsphinx/test/data/librivox
echo
echo "== scripts/make-samples.sh $SAMPLES (flite voices slt/awb/rms in OGG, MP3, MP4)"
"$(dirname "$0")/make-samples.sh" "$SAMPLES"
shopt -s nullglob
samples=("$SAMPLES"/*.ogg "$SAMPLES"/*.mp3 "$SAMPLES"/*.mp4 "$SAMPLES"/*.m4a)
shopt -u nullglob
if [ ${#samples[@]} -gt 0 ]; then
  echo
  echo "== soroka transcribe ${#samples[@]} samples (progress on stderr, text on stdout)"
  "$SOROKA" transcribe "${samples[@]}" || true
  echo
  echo "== soroka transcribe --format srt $(basename "${samples[0]}")"
  "$SOROKA" transcribe --quiet --format srt "${samples[0]}" || true
fi

echo
echo "== a real LibriVox recording (pocketsphinx-testdata), transcript next to its reference"
id=sense_and_sensibility_01_austen_64kb-0920
if [ -f "$LIBRIVOX/$id.wav" ]; then
  ref=$(grep -F "($id)" "$LIBRIVOX/transcription" | sed -E 's/<\/?s>//g; s/ *\([^)]*\) *$//; s/^ +//')
  hyp=$("$SOROKA" transcribe --quiet "$LIBRIVOX/$id.wav" || true)
  printf '  reference: %s\n  soroka:    %s\n' "$ref" "$hyp"
  "$SOROKA" transcribe --quiet --format vtt "$LIBRIVOX/$id.wav" || true
else
  echo "  (pocketsphinx-testdata is not installed: make deps)"
fi

# --- the service ---
echo
echo "== soroka serve: the HTTP API (OpenAI-compatible), one request, then SIGTERM"
STATE=$(mktemp -d "${TMPDIR:-/tmp}/soroka-demo-XXXXXX")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SOROKA_LOG_LEVEL=warn "$SOROKA" serve --listen "127.0.0.1:$PORT" --state-dir "$STATE" &
SERVE_PID=$!
trap 'kill "$SERVE_PID" 2>/dev/null || true; rm -rf "$STATE"' EXIT
for _ in $(seq 100); do curl -sf "127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
if [ ${#samples[@]} -gt 0 ]; then
  echo "\$ curl -F file=@$(basename "${samples[0]}") -F response_format=json 127.0.0.1:$PORT/v1/audio/transcriptions"
  curl -s -F file=@"${samples[0]}" -F response_format=json "127.0.0.1:$PORT/v1/audio/transcriptions"
  echo
fi
echo "\$ curl 127.0.0.1:$PORT/metrics | grep -E 'memory_level|jobs|worker_starts'"
curl -s "127.0.0.1:$PORT/metrics" | grep -E '^soroka_(memory_level|jobs|worker_starts)' || true
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" && echo "(serve exited 0 on SIGTERM)"

#!/bin/sh
# Runs the official OpenAI Node client (tests/interop/openai_client.js) against a fresh
# `soroka serve` with an API key. Exit 77 (skipped, with the reason) where Node.js or the
# client package is missing; scripts/install-deps.sh installs both. With a second argument
# "diarize", also diarized_json on a two-voice flite dialogue (needs the diarization algorithm).
set -u
soroka=$1
mode=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
command -v node >/dev/null || { echo "skipped: node is not installed"; exit 77; }
[ -d "$here/node_modules/openai" ] || { echo "skipped: run npm ci in tests/interop (scripts/install-deps.sh does)"; exit 77; }
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
key=sk-interop-0123456789abcdef
flite -voice slt -t "the quick brown fox jumps over the lazy dog" -o "$work/speech.wav"
head -c 3000000 /dev/urandom > "$work/big.bin"
extra=""
if [ "$mode" = diarize ]; then
  # slt and awb take turns with a second of silence between; anna.wav is more of slt's voice.
  flite -voice slt -t "good morning, how was your trip to the mountains last week" -o "$work/t1.wav"
  flite -voice awb -t "it was wonderful, we walked for hours every single day" -o "$work/t2.wav"
  flite -voice slt -t "did the weather hold up for the whole time you were there" -o "$work/t3.wav"
  flite -voice awb -t "mostly yes, only one afternoon of heavy rain near the end" -o "$work/t4.wav"
  flite -voice slt -t "this is my voice, recorded separately as a reference for the test" -o "$work/anna.wav"
  sox -n -r 16000 -c 1 -b 16 "$work/gap.wav" trim 0 1.0
  sox "$work/t1.wav" "$work/gap.wav" "$work/t2.wav" "$work/gap.wav" "$work/t3.wav" "$work/gap.wav" "$work/t4.wav" \
    -r 16000 -c 1 "$work/dialogue.wav"
  extra="$work/dialogue.wav $work/anna.wav"
fi
SOROKA_LOG_LEVEL=warn SOROKA_MEMORY_MAX_FILE_SIZE=2MiB SOROKA_SERVER_API_KEYS=$key \
  "$soroka" serve --listen "127.0.0.1:$port" --state-dir "$work/state" &
pid=$!
for _ in $(seq 100); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
# shellcheck disable=SC2086 # two paths without spaces, or none
node "$here/openai_client.js" "http://127.0.0.1:$port/v1" "$key" "$work/speech.wav" "$work/big.bin" $extra
rc=$?
kill "$pid"; wait "$pid"
rm -rf "$work"
exit $rc

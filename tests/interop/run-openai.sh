#!/bin/sh
# Runs the official OpenAI Node client (tests/interop/openai_client.js) against a fresh
# `soroka serve` with an API key. Exit 77 (skipped, with the reason) where Node.js or the
# client package is missing; scripts/install-deps.sh installs both.
set -u
soroka=$1
here=$(cd "$(dirname "$0")" && pwd)
command -v node >/dev/null || { echo "skipped: node is not installed"; exit 77; }
[ -d "$here/node_modules/openai" ] || { echo "skipped: run npm ci in tests/interop (scripts/install-deps.sh does)"; exit 77; }
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
key=sk-interop-0123456789abcdef
flite -voice slt -t "the quick brown fox jumps over the lazy dog" -o "$work/speech.wav"
head -c 3000000 /dev/urandom > "$work/big.bin"
SOROKA_LOG_LEVEL=warn SOROKA_MEMORY_MAX_FILE_SIZE=2MiB SOROKA_SERVER_API_KEYS=$key \
  "$soroka" serve --listen "127.0.0.1:$port" --state-dir "$work/state" &
pid=$!
for _ in $(seq 100); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
node "$here/openai_client.js" "http://127.0.0.1:$port/v1" "$key" "$work/speech.wav" "$work/big.bin"
rc=$?
kill "$pid"; wait "$pid"
rm -rf "$work"
exit $rc

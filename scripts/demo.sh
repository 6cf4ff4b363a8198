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

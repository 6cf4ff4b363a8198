#!/usr/bin/env bash
# make bench: runs every benchmark script with the given build dir and prints their figures.
set -uo pipefail
BUILD_DIR=${1:-build}
cd "$(dirname "$0")/.."
for s in bench/*.sh; do
  [ "$(basename "$s")" = run-all.sh ] && continue
  echo "=== $s"
  "$s" "$BUILD_DIR" || echo "($s failed: exit $?)"
done
if [ -x "$BUILD_DIR/soroka-bench-reaction" ]; then
  echo "=== soroka-bench-reaction"
  "$BUILD_DIR/soroka-bench-reaction" 30
  echo "=== soroka-bench-reaction, 8 busy processes"
  "$BUILD_DIR/soroka-bench-reaction" 30 8
fi

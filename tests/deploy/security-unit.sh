#!/bin/sh
# Rates deploy/soroka.service with `systemd-analyze security --offline=yes` and fails when the
# overall exposure is above the limit (2.0: issue 8; docs/deploy.en.md says why each point that
# remains does). Usage: security-unit.sh UNIT [LIMIT]. Exit 77 (skipped) without systemd-analyze
# or where it predates --offline (systemd < 250).
set -u
unit=$1 limit=${2:-2.0}

if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "SKIP: systemd-analyze not found (install systemd to rate the unit)"
  exit 77
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
cp "$unit" "$tmp/soroka.service"
cd "$tmp" || exit 1
out=$(systemd-analyze security --offline=yes --no-pager ./soroka.service 2>&1)
status=$?
if printf '%s\n' "$out" | grep -q "unrecognized option"; then
  echo "SKIP: systemd-analyze has no --offline (systemd < 250)"
  exit 77
fi
level=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for soroka.service: \([0-9.]*\).*/\1/p')
if [ -z "$level" ]; then
  echo "FAIL: no overall exposure level in the output (exit $status):"
  printf '%s\n' "$out"
  exit 1
fi
# What still counts, for the log.
printf '%s\n' "$out" | grep '✗'
if awk -v l="$level" -v m="$limit" 'BEGIN { exit !(l <= m) }'; then
  echo "OK: exposure $level <= $limit"
  exit 0
fi
echo "FAIL: exposure $level > $limit"
exit 1

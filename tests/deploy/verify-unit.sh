#!/bin/sh
# Checks deploy/soroka.service: `systemd-analyze verify` on a copy whose ExecStart points at
# the built binary (verify checks that the command exists), with every warning about the unit
# counted as a failure (verify itself exits 0 on unknown keys and invalid values), plus the
# settings that must agree with the code.
# Usage: verify-unit.sh UNIT SOROKA_BINARY SOURCE_DIR. Exit 77 (skipped) without systemd-analyze.
set -u
unit=$1 binary=$2 src=$3

if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "SKIP: systemd-analyze not found (install systemd to verify the unit)"
  exit 77
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
sed "s#^ExecStart=/usr/local/bin/soroka #ExecStart=$binary #" "$unit" > "$tmp/soroka.service"
if ! grep -q "^ExecStart=$binary serve " "$tmp/soroka.service"; then
  echo "FAIL: ExecStart is not /usr/local/bin/soroka serve ... in $unit"
  exit 1
fi

status=0
out=$(systemd-analyze verify --man=no "$tmp/soroka.service" 2>&1) || status=$?
# Warnings about other units of this host are not ours to judge.
ours=$(printf '%s\n' "$out" | grep 'soroka' || true)
if [ "$status" -ne 0 ] || [ -n "$ours" ]; then
  echo "FAIL: systemd-analyze verify (exit $status):"
  printf '%s\n' "$out"
  exit 1
fi

fail=0
need() {  # the unit must contain this exact line
  grep -qx "$1" "$unit" || { echo "FAIL: $unit lacks '$1'"; fail=1; }
}
need 'MemoryMax=2G'
need 'MemoryHigh=1.5G'
need 'MemorySwapMax=1G'
need 'Delegate=memory'
need 'OOMPolicy=continue'
need 'OOMScoreAdjust=-500'
need 'KillMode=mixed'
need 'StateDirectory=soroka'
# systemd integration (src/service/systemd_notify.h) and the hardening issue 8 asks for.
need 'NotifyAccess=main'
need 'WatchdogSec=20s'
need 'LoadCredential=api_keys:soroka.api_keys'
need 'LoadCredential=telegram_token:soroka.telegram_token'
need 'SystemCallFilter=@system-service'
need 'MemoryDenyWriteExecute=yes'
need 'IPAddressDeny=any'
need 'ProtectProc=invisible'
need 'LimitNOFILE=4096'
need 'TasksMax=512'
# Workers sandbox themselves (src/worker/sandbox.h): the unit's filter must let them.
for call in seccomp landlock_create_ruleset landlock_add_rule landlock_restrict_self; do
  grep -q "^SystemCallFilter=.*\b$call\b" "$unit" || { echo "FAIL: SystemCallFilter= lacks $call"; fail=1; }
done
# Delegated cgroups must stay writable.
if grep -qx 'ProtectControlGroups=yes' "$unit"; then echo "FAIL: ProtectControlGroups=yes"; fail=1; fi
# Type=notify only if the service tells systemd it is ready.
if grep -rq 'sd_notify' "$src/src"; then need 'Type=notify'; else need 'Type=exec'; fi
# The stop timeout must outlast the SIGTERM drain (server.shutdown_timeout_ms).
drain_ms=$(sed -n 's/^shutdown_timeout_ms = \([0-9]*\).*/\1/p' "$src/docs/soroka.example.toml")
stop_s=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s$/\1/p' "$unit")
if [ -z "$drain_ms" ] || [ -z "$stop_s" ] || [ $((stop_s * 1000)) -le "$drain_ms" ]; then
  echo "FAIL: TimeoutStopSec=${stop_s}s must exceed shutdown_timeout_ms=${drain_ms}"
  fail=1
fi
[ "$fail" -eq 0 ] && echo "OK: $unit verified against $binary"
exit "$fail"

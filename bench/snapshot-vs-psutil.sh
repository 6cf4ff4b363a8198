#!/usr/bin/env bash
# BM_Snapshot against psutil (virtual_memory() + Process().memory_info()) in the same run,
# inside a cgroup v1 limited to 2 GiB (the guide's MemoryMax=2G) when this machine allows.
set -euo pipefail
BUILD_DIR=${1:-build}
BENCH="$BUILD_DIR/soroka-bench"
PY=/usr/bin/python3
CG=/sys/fs/cgroup/memory/soroka-bench-$$
where="this process's own cgroup"
cleanup() { [ -d "$CG" ] && { echo $$ > /sys/fs/cgroup/memory/cgroup.procs 2>/dev/null || true; rmdir "$CG" 2>/dev/null || true; }; }
trap cleanup EXIT
if [ "$(id -u)" = 0 ] && [ -w /sys/fs/cgroup/memory ] && mkdir "$CG" 2>/dev/null; then
  echo $((2 << 30)) > "$CG/memory.limit_in_bytes"
  echo $$ > "$CG/cgroup.procs"
  where="cgroup v1 $CG (limit 2 GiB)"
fi
echo "running in $where"
json=$("$BENCH" --benchmark_filter='BM_Snapshot' --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true --benchmark_format=json 2>/dev/null)
psutil_us=$("$PY" - <<'PY'
import psutil, timeit, statistics
n = 20000
runs = [timeit.timeit(lambda: (psutil.virtual_memory(), psutil.Process().memory_info()), number=n) / n * 1e6 for _ in range(5)]
print(f"{statistics.median(runs):.3f}")
PY
)
"$PY" - "$psutil_us" <<PY
import json, sys
d = json.loads('''$json''')
psutil_us = float(sys.argv[1])
med = {b["run_name"]: b["real_time"] / 1000.0 for b in d["benchmarks"] if b.get("aggregate_name") == "median"}
snap = med["BM_Snapshot"]; full = med["BM_SnapshotFull"]
print(f"BM_Snapshot (monitor hot path): {snap:.2f} us   goal < 5 us: {'met' if snap < 5 else 'MISSED'}")
print(f"BM_SnapshotFull (all re-read):  {full:.2f} us")
print(f"psutil virtual_memory()+Process().memory_info(): {psutil_us:.2f} us")
print(f"ratio psutil / BM_Snapshot: {psutil_us / snap:.1f}x   goal >= 10x: {'met' if psutil_us / snap >= 10 else 'MISSED'}")
print(f"ratio psutil / BM_SnapshotFull: {psutil_us / full:.1f}x")
PY

#!/usr/bin/env bash
# Runs every libFuzzer target of a SOROKA_FUZZ build; fails if any crashes, leaks or breaks an invariant.
# Usage: run-fuzz.sh BUILD_DIR   (make fuzz). Environment:
#   FUZZ_SECONDS  time per target (-max_total_time), default 60 (unset with FUZZ_RUNS: none)
#   FUZZ_RUNS     executions per target (-runs); with FUZZ_SECONDS too, whichever comes first
#   FUZZ_TARGETS  names to run (default: all), e.g. "meminfo psi"
#   FUZZ_PARALLEL targets fuzzed at once, default 1 (each is one process)
# The seeds in fuzz/corpus/<name> stay untouched: the growing corpus lives in
# BUILD_DIR/fuzz-corpus/<name>, crashes in BUILD_DIR/fuzz-artifacts/, logs in BUILD_DIR/fuzz-logs/.
set -uo pipefail

build=${1:?usage: run-fuzz.sh BUILD_DIR}
src=$(cd "$(dirname "$0")/.." && pwd)
runs=${FUZZ_RUNS:-}
seconds=${FUZZ_SECONDS:-}
[ -z "$runs" ] && [ -z "$seconds" ] && seconds=60
parallel=${FUZZ_PARALLEL:-1}
targets=${FUZZ_TARGETS:-$(cd "$build/fuzz" && ls ./*_fuzz 2>/dev/null | sed 's|^\./||; s|_fuzz$||')}
[ -n "$targets" ] || { echo "run-fuzz: no *_fuzz binaries in $build/fuzz" >&2; exit 2; }
mkdir -p "$build/fuzz-corpus" "$build/fuzz-artifacts" "$build/fuzz-logs"

run_one() {
  local name=$1 bin="$build/fuzz/$1_fuzz" corpus="$build/fuzz-corpus/$1" log="$build/fuzz-logs/$1.log"
  mkdir -p "$corpus"
  local limit=()
  [ -n "$seconds" ] && limit+=(-max_total_time="$seconds")
  [ -n "$runs" ] && limit+=(-runs="$runs")
  # -max_len: the largest seed is a 2 KiB TOML file, kernel files are under 1.5 KiB.
  nice "$bin" "${limit[@]}" -max_len=4096 -print_final_stats=1 \
    -artifact_prefix="$build/fuzz-artifacts/$name-" "$corpus" "$src/fuzz/corpus/$name" >"$log" 2>&1
  local rc=$?
  local execs rate
  execs=$(tr -d '\000' <"$log" | sed -n 's/^stat::number_of_executed_units: *//p' | tail -n1)
  rate=$(tr -d '\000' <"$log" | sed -n 's/^stat::average_exec_per_sec: *//p' | tail -n1)
  printf '%-16s rc=%-3s execs=%-12s exec/s=%s\n' "$name" "$rc" "${execs:-?}" "${rate:-?}"
  [ "$rc" -eq 0 ]
}
export -f run_one
export build src seconds runs

failed=0
printf '%s\n' $targets | xargs -P "$parallel" -I{} bash -c 'run_one {}' || failed=1
if [ "$failed" -ne 0 ]; then
  echo "run-fuzz: FAILED; see $build/fuzz-logs/ and the inputs in $build/fuzz-artifacts/" >&2
  exit 1
fi
echo "run-fuzz: all targets clean"

// BM_Snapshot: the cost of one memory snapshot as the monitor takes it (system+cgroup+process).
#include <benchmark/benchmark.h>

#include "oomguard/sampler.h"

namespace {

using soroka::oomguard::Roots;
using soroka::oomguard::Sampler;
using soroka::oomguard::Target;

// The monitor's hot path: sample_fast with the grey zone at 83 % (warning 85 - hysteresis 2).
void BM_Snapshot(benchmark::State& state) {
  auto s = Sampler::open(Roots{}, Target{});
  if (!s) {
    state.SkipWithError(s.error().message.c_str());
    return;
  }
  for (auto _ : state) {
    auto snap = s->sample_fast(83.0);
    benchmark::DoNotOptimize(snap);
  }
  state.SetLabel(std::string(to_string(s->info().source)) + " " + s->info().cgroup_path);
}
BENCHMARK(BM_Snapshot);

// Everything read afresh (what `soroka monitor --once` does): the upper bound.
void BM_SnapshotFull(benchmark::State& state) {
  auto s = Sampler::open(Roots{}, Target{});
  if (!s) {
    state.SkipWithError(s.error().message.c_str());
    return;
  }
  for (auto _ : state) {
    auto snap = s->sample();
    benchmark::DoNotOptimize(snap);
  }
}
BENCHMARK(BM_SnapshotFull);

}  // namespace

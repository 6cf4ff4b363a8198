// SIMULATION ONLY: fake engines that reproduce bigger models' memory profiles, for tests.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/transcript.h"
#include "util/result.h"

namespace soroka::service {

// This is not speech recognition. A simulated model allocates and touches the memory that
// whisper.cpp's published model sizes take (tiny 273 MB, base 388 MB, small 852 MB, medium
// 2.1 GB), works for a while and returns a transcript that says it is simulated. The service
// accepts model=sim-* only when SOROKA_ENABLE_SIM_ENGINE=1; it is never the default.
// "sim-leak" declares tiny's size but keeps allocating: a job whose memory exceeds every
// estimate, to show that the kernel kills the worker and not the service.
struct SimProfile {
  std::string name;
  std::uint64_t model_bytes = 0;    // what the estimate is told
  std::uint64_t working_bytes = 0;  // on top of the model, halved per degrade level
  double seconds = 1.0;             // how long the "work" takes
  bool leaks = false;
};

inline constexpr std::string_view kSimEnableVar = "SOROKA_ENABLE_SIM_ENGINE";
bool sim_enabled();  // the variable is "1"
std::optional<SimProfile> sim_profile(std::string_view model);
// What a worker of a simulated model needs before any audio (its model, working set and the
// process itself); 0 when `model` is not simulated. SchedulerParams::model_bytes.
std::uint64_t sim_worker_bytes(std::string_view model);

// The simulated model, resident (every page touched) for as long as it is held: a worker
// loads it once and keeps it between jobs, like a real model.
using SimModel = std::vector<std::unique_ptr<char[]>>;
SimModel load_sim_model(const SimProfile& p);

// Runs the simulation on `input` (its duration, if probed, goes into the transcript): the
// job's working memory on top of a loaded model. progress(fraction) is called as it goes.
Result<pipeline::Transcript> run_simulation(const SimProfile& p, const std::string& input,
                                            double duration_s, int degrade,
                                            const std::function<void(double)>& progress);

}  // namespace soroka::service

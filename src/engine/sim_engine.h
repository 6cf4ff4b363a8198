// SIMULATION ONLY: a fake engine with bigger models' memory profiles, for tests and benchmarks.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.h"
#include "oomguard/model_registry.h"

namespace soroka::engine {

// This is not speech recognition. A simulated model allocates and touches the memory that
// whisper.cpp's published model sizes take (tiny 273 MB, base 388 MB, small 852 MB, medium
// 2.1 GB), works for a while and returns a transcript that says it is simulated. The factory
// offers the sim-* names only with engine.simulation = true; it is never the default.
// "sim-leak" declares tiny's size but keeps allocating: a job whose memory exceeds every
// estimate, to show that the kernel kills the worker and not the service.
struct SimProfile {
  std::string name;
  std::uint64_t model_bytes = 0;    // what the model holds, loaded once per worker
  std::uint64_t working_bytes = 0;  // a session's, on top of the model; halved per degrade level
  double seconds = 1.0;             // how long the "work" of one transcription takes
  bool leaks = false;
  int repeat = 1;  // the transcript's sentence this many times (a long transcript)
};

// The profiles by name ("sim-tiny", ...); nullopt for any other name.
std::optional<SimProfile> sim_profile(std::string_view name);
std::vector<std::string> sim_model_names();

// What a worker running the profile needs: the model, a session's working memory and the
// worker process itself (FFmpeg and pocketsphinx libraries: ~40 MiB RSS before any model).
std::uint64_t sim_worker_bytes(const SimProfile& p);

// Loads its model through the registry (reserved, then every page touched), like a real
// engine, so a warm worker keeps it between jobs and a shed unloads it when idle. A session
// allocates its working memory when it starts and does the profile's `seconds` of work in its
// first non-empty segment (calling SessionParams::still_working as it goes); sim-leak keeps
// allocating there until the kernel stops it. Thread-safe like Engine.
class SimEngine final : public Engine {
 public:
  // The registry must outlive the engine and its sessions.
  SimEngine(oomguard::ModelRegistry& registry, SimProfile profile);

  std::string name() const override { return profile_.name + " (simulation)"; }
  std::vector<std::string> languages() const override { return {"en"}; }
  Capabilities capabilities() const override { return {}; }
  MemoryCost memory_cost() const override;
  Result<std::unique_ptr<Session>> start(const SessionParams& p) override;

 private:
  oomguard::ModelRegistry& registry_;
  SimProfile profile_;
};

}  // namespace soroka::engine

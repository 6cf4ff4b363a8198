// SIMULATION ONLY: fake engines that reproduce bigger models' memory profiles, for tests.
#include "service/sim_model.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>
#include "util/units.h"

namespace soroka::service {

namespace {
constexpr std::uint64_t kMB = 1000 * 1000;
constexpr std::uint64_t kChunk = 8ull << 20;  // allocate in 8 MiB steps so progress shows
}  // namespace

bool sim_enabled() {
  const char* v = std::getenv(std::string(kSimEnableVar).c_str());
  return v && std::string_view(v) == "1";
}

std::optional<SimProfile> sim_profile(std::string_view model) {
  // whisper.cpp README, "Memory usage" table: disk/mem per model.
  if (model == "sim-tiny") return SimProfile{"sim-tiny", 273 * kMB, 32 * kMB, 1.0, false};
  if (model == "sim-base") return SimProfile{"sim-base", 388 * kMB, 48 * kMB, 1.5, false};
  if (model == "sim-small") return SimProfile{"sim-small", 852 * kMB, 64 * kMB, 2.0, false};
  if (model == "sim-medium") return SimProfile{"sim-medium", 2100 * kMB, 96 * kMB, 3.0, false};
  // Small and slow: for cancellation and shutdown tests.
  if (model == "sim-slow") return SimProfile{"sim-slow", 32 * kMB, 16 * kMB, 30.0, false};
  // Small and a few seconds long: for stall and storage-failure tests.
  if (model == "sim-brief") return SimProfile{"sim-brief", 32 * kMB, 16 * kMB, 4.0, false};
  if (model == "sim-leak") return SimProfile{"sim-leak", 273 * kMB, 32 * kMB, 60.0, true};
  return std::nullopt;
}

namespace {
// Touch every page: an untouched allocation costs nothing and would prove nothing.
std::unique_ptr<char[]> touched_block() {
  auto block = std::make_unique<char[]>(kChunk);
  std::memset(block.get(), 0x5a, kChunk);
  return block;
}
}  // namespace

SimModel load_sim_model(const SimProfile& p) {
  SimModel blocks;
  for (std::uint64_t held = 0; held < p.model_bytes; held += kChunk) blocks.push_back(touched_block());
  return blocks;
}

Result<pipeline::Transcript> run_simulation(const SimProfile& p, const std::string& input,
                                            double duration_s, int degrade,
                                            const std::function<void(double)>& progress) {
  const std::uint64_t target = p.working_bytes >> std::min(degrade, 4);
  SimModel blocks;
  auto start = std::chrono::steady_clock::now();
  for (std::uint64_t held = 0; p.leaks || held < target; held += kChunk) {
    blocks.push_back(touched_block());
    if (progress)
      progress(p.leaks ? 0.0 : 0.5 * static_cast<double>(held + kChunk) / static_cast<double>(target));
    if (p.leaks) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (p.leaks && std::chrono::steady_clock::now() - start > std::chrono::duration<double>(p.seconds))
      return fail("simulated leak ran out of time without being stopped", ETIMEDOUT);
  }
  // A step (and a progress call, like a real decode loop's) every 100 ms at most.
  const int steps = std::max(10, static_cast<int>(p.seconds * 10));
  for (int i = 1; i <= steps; ++i) {
    std::this_thread::sleep_for(std::chrono::duration<double>(p.seconds / steps));
    if (progress) progress(0.5 + 0.5 * i / steps);
  }
  pipeline::Transcript t;
  t.file = input;
  t.duration_s = duration_s;
  t.language = "en";
  t.engine = p.name + " (simulation)";
  engine::SegmentText seg;
  seg.start_s = 0;
  seg.end_s = duration_s > 0 ? duration_s : 1.0;
  seg.text = "[simulated transcript from " + p.name + ": not speech recognition]";
  t.segments.push_back(std::move(seg));
  return t;
}

std::uint64_t sim_worker_bytes(std::string_view model) {
  // The worker process itself: FFmpeg and pocketsphinx libraries, ~40 MiB RSS before any model.
  auto p = sim_profile(model);
  return p ? p->model_bytes + p->working_bytes + 64 * kMiB : 0;
}

}  // namespace soroka::service

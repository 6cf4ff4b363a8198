// SIMULATION ONLY: a fake engine with bigger models' memory profiles, for tests and benchmarks.
#include "engine/sim_engine.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "util/units.h"

namespace soroka::engine {

namespace {

constexpr std::uint64_t kMB = 1000 * 1000;
constexpr std::uint64_t kChunk = 8 * kMiB;  // allocate in 8 MiB steps

const std::vector<SimProfile>& profiles() {
  // whisper.cpp README, "Memory usage" table: disk/mem per model.
  static const std::vector<SimProfile> p = {
      {"sim-tiny", 273 * kMB, 32 * kMB, 1.0, false},
      {"sim-base", 388 * kMB, 48 * kMB, 1.5, false},
      {"sim-small", 852 * kMB, 64 * kMB, 2.0, false},
      {"sim-medium", 2100 * kMB, 96 * kMB, 3.0, false},
      // Small and slow: for cancellation and shutdown tests.
      {"sim-slow", 32 * kMB, 16 * kMB, 30.0, false},
      // Small and a few seconds long: for stall and storage-failure tests.
      {"sim-brief", 32 * kMB, 16 * kMB, 4.0, false},
      {"sim-leak", 273 * kMB, 32 * kMB, 60.0, true},
      // A transcript of ~5,000 characters, beyond one Telegram message (4096): for the bot's
      // document replies.
      {"sim-verbose", 32 * kMB, 16 * kMB, 1.0, false, 80},
  };
  return p;
}

// Memory that is resident: an untouched allocation costs nothing and would prove nothing.
using Blocks = std::vector<std::unique_ptr<char[]>>;
void add_touched_block(Blocks& blocks) {
  auto block = std::make_unique<char[]>(kChunk);
  std::memset(block.get(), 0x5a, kChunk);
  blocks.push_back(std::move(block));
}
Blocks touched_blocks(std::uint64_t bytes) {
  Blocks blocks;
  for (std::uint64_t held = 0; held < bytes; held += kChunk) add_touched_block(blocks);
  return blocks;
}

std::string registry_name(const SimProfile& p) { return "sim/" + p.name; }

class SimSession final : public Session {
 public:
  SimSession(oomguard::ModelLease<Blocks> model, const SimProfile& profile, SessionParams params)
      : model_(std::move(model)),
        profile_(profile),
        params_(std::move(params)),
        working_(touched_blocks(profile.working_bytes >> std::clamp(params_.degrade, 0, 4))) {}

  Result<SegmentText> transcribe(const segment::Segment& seg) override {
    SegmentText out;
    out.start_s = seg.start_s();
    out.end_s = seg.end_s();
    if (seg.samples.empty() || worked_) return out;
    worked_ = true;
    if (auto r = profile_.leaks ? leak() : work(); !r) return std::unexpected(r.error());
    const std::string sentence = "[simulated transcript from " + profile_.name + ": not speech recognition]";
    for (int i = 0; i < profile_.repeat; ++i) out.text += (i ? "\n" : "") + sentence;
    return out;
  }

 private:
  void beat() const {
    if (params_.still_working) params_.still_working();
  }
  // The profile's seconds, in steps of at most 100 ms, saying each time that it is alive.
  Result<void> work() const {
    const int steps = std::max(10, static_cast<int>(profile_.seconds * 10));
    for (int i = 0; i < steps; ++i) {
      std::this_thread::sleep_for(std::chrono::duration<double>(profile_.seconds / steps));
      beat();
    }
    return {};
  }
  // 8 MiB every 20 ms (400 MiB/s) until the kernel stops the process.
  Result<void> leak() {
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < std::chrono::duration<double>(profile_.seconds)) {
      add_touched_block(working_);
      beat();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return fail(FailureKind::internal, "simulated leak ran out of time without being stopped", ETIMEDOUT);
  }

  oomguard::ModelLease<Blocks> model_;
  SimProfile profile_;
  SessionParams params_;
  Blocks working_;
  bool worked_ = false;
};

}  // namespace

std::optional<SimProfile> sim_profile(std::string_view name) {
  for (const auto& p : profiles())
    if (p.name == name) return p;
  return std::nullopt;
}

std::vector<std::string> sim_model_names() {
  std::vector<std::string> names;
  for (const auto& p : profiles()) names.push_back(p.name);
  return names;
}

std::uint64_t sim_worker_bytes(const SimProfile& p) {
  return p.model_bytes + p.working_bytes + kWorkerProcessBytes;
}

SimEngine::SimEngine(oomguard::ModelRegistry& registry, SimProfile profile)
    : registry_(registry), profile_(std::move(profile)) {}

MemoryCost SimEngine::memory_cost() const {
  MemoryCost c{.model_bytes = profile_.model_bytes,
               .to_load_bytes = profile_.model_bytes,
               .session_bytes = profile_.working_bytes};
  for (const auto& m : registry_.list())
    if (m.name == registry_name(profile_)) c.to_load_bytes = 0;
  return c;
}

Result<std::unique_ptr<Session>> SimEngine::start(const SessionParams& p) {
  if (p.language != "en")
    return fail(FailureKind::invalid_request,
                fmt::format("language '{}' is not supported by {} (supported: en)", p.language, name()),
                EINVAL);
  const std::uint64_t bytes = profile_.model_bytes;
  auto lease = registry_.acquire<Blocks>(registry_name(profile_), bytes, [bytes]() -> Result<oomguard::LoadedModel> {
    return oomguard::LoadedModel{std::make_shared<Blocks>(touched_blocks(bytes)), bytes};
  });
  if (!lease) return std::unexpected(std::move(lease.error()).with_context("loading " + profile_.name));
  return std::make_unique<SimSession>(std::move(*lease), profile_, p);
}

}  // namespace soroka::engine

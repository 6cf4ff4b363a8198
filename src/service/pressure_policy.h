// Pressure policy: what the scheduler does about a memory level (pause, end idle workers, shed, preempt).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "oomguard/levels.h"

namespace soroka::service {

// Not thread-safe: the scheduler calls it under its lock.
class PressurePolicy {
 public:
  using Clock = std::chrono::steady_clock;
  // A running job as the policy weighs it.
  struct RunView {
    std::int32_t priority = 0;
    Clock::time_point started{};
  };
  struct Actions {
    bool pause = false;        // the budget admits nothing new (warning and above)
    bool retire_idle = false;  // idle workers give back their memory first: no job is lost
    bool shed = false;         // every running worker drops its caches
    std::optional<std::size_t> preempt;  // index into runs: stop it, its job goes back queued
  };

  explicit PressurePolicy(std::chrono::milliseconds grace) : grace_(grace) {}

  // Pure apart from its own memory of what it did. At critical: shed first; if still critical
  // `grace` later, stop the lowest-priority, newest run (it has the least work to lose), then
  // one more per `grace` while it lasts. Leaving critical resets the sequence.
  Actions decide(oomguard::Level level, Clock::time_point now, const std::vector<RunView>& runs);

 private:
  std::chrono::milliseconds grace_;
  bool shed_sent_ = false;
  Clock::time_point critical_since_{};
  Clock::time_point last_preempt_{};
};

}  // namespace soroka::service

// Pressure policy: what the scheduler does about a memory level (pause, end idle workers, shed, preempt).
#include "service/pressure_policy.h"

#include <algorithm>

namespace soroka::service {

PressurePolicy::Actions PressurePolicy::decide(oomguard::Level level, Clock::time_point now,
                                               const std::vector<RunView>& runs) {
  Actions a;
  a.pause = level != oomguard::Level::normal;
  a.retire_idle = a.pause;
  if (level != oomguard::Level::critical) {
    shed_sent_ = false;
    return a;
  }
  if (!shed_sent_) {
    shed_sent_ = true;
    critical_since_ = now;
    a.shed = true;
    return a;
  }
  if (runs.empty() || now - critical_since_ < grace_ || now - last_preempt_ < grace_) return a;
  // Lowest priority first, then the newest.
  auto victim = std::max_element(runs.begin(), runs.end(), [](const RunView& x, const RunView& y) {
    if (x.priority != y.priority) return x.priority > y.priority;
    return x.started < y.started;
  });
  a.preempt = static_cast<std::size_t>(victim - runs.begin());
  last_preempt_ = now;
  return a;
}

}  // namespace soroka::service

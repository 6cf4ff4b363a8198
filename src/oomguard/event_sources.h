// Kernel event sources that wake the monitor: cgroup v1 thresholds, v2 memory.events, PSI.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "oomguard/monitor.h"
#include "util/fd.h"
#include "util/result.h"

namespace soroka::oomguard {

// cgroup v1: an eventfd registered through cgroup.event_control for usage thresholds on each
// limited level (fires when usage crosses a value either way) and for memory.pressure_level
// "medium" (fires on reclaim). Closing the eventfd unregisters everything.
class V1ThresholdSource {
 public:
  // `chain`: cgroup directories, leaf first. `percents`: usage thresholds as shares of each
  // level's limit. Fails when no level could be armed.
  static Result<V1ThresholdSource> arm(const std::vector<std::string>& chain,
                                       const std::vector<double>& percents,
                                       std::uint64_t min_available_bytes);
  int fd() const noexcept { return efd_.get(); }
  void drain() noexcept;  // reads the eventfd counter
  std::size_t registrations() const noexcept { return registrations_; }
  std::uint64_t armed_limit() const noexcept { return armed_limit_; }

 private:
  Fd efd_;
  std::vector<Fd> targets_;  // the usage / pressure_level files, kept open while armed
  std::size_t registrations_ = 0;
  std::uint64_t armed_limit_ = 0;  // sum of limits armed against, to detect changes
};

// cgroup v2: inotify IN_MODIFY on memory.events of each level (the kernel notifies on every
// high/max/oom event).
class V2EventsSource {
 public:
  static Result<V2EventsSource> watch(const std::vector<std::string>& chain);
  int fd() const noexcept { return ifd_.get(); }
  void drain() noexcept;

 private:
  Fd ifd_;
};

// PSI trigger: "some <stall_us> <window_us>" written to a pressure file, POLLPRI when hit.
// Unprivileged triggers need a window that is a multiple of 2 s; the kernel refuses
// triggers with EINVAL or EOPNOTSUPP on some systems (this is reported, then polling covers).
class PsiTriggerSource {
 public:
  static Result<PsiTriggerSource> arm(const std::string& pressure_file,
                                      std::uint64_t stall_us, std::uint64_t window_us);
  int fd() const noexcept { return fd_.get(); }

 private:
  Fd fd_;
};

}  // namespace soroka::oomguard

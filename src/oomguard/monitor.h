// Monitor: a background thread that watches memory, event-driven where the kernel allows,
// and calls listeners and cleanup handlers when the level changes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "oomguard/levels.h"
#include "oomguard/sampler.h"

namespace soroka::oomguard {

struct MonitorParams {
  Thresholds thresholds;
  // Sampling floor: between kernel events, sample at least this often; while at warning or
  // above, or while raw usage is past the warning point, at least every fast interval.
  std::chrono::milliseconds poll_interval{500};
  std::chrono::milliseconds fast_poll_interval{100};
  // Re-read which ancestors carry limits (limits may change at run time).
  std::chrono::milliseconds rescan_interval{5000};
  // Event sources; each falls back to polling when the kernel refuses it.
  bool use_v1_thresholds = true;  // cgroup v1 cgroup.event_control + eventfd
  bool use_v2_events = true;      // cgroup v2 memory.events via inotify
  bool use_psi_trigger = true;    // PSI trigger on memory.pressure or /proc/pressure/memory
  std::chrono::microseconds psi_stall{150'000};  // "some" stall per window that wakes us
  std::chrono::microseconds psi_window{1'000'000};
  // A callback running longer than this is logged (it cannot stop sampling: callbacks run on
  // their own thread).
  std::chrono::milliseconds slow_callback{1000};
  // After cleanup, give freed heap back to the OS with malloc_trim(0).
  bool trim_heap = true;
  // Nice value of the monitor's threads (needs CAP_SYS_NICE to go below 0; 0 = leave as is),
  // so that reaction stays prompt while the machine is busy.
  int thread_nice = -10;
};

struct LevelChange {
  Level from;
  Level to;
  Snapshot snapshot;
};

// Cleanup handler: frees what it can and returns the bytes it believes it freed.
struct CleanupHandler {
  std::string name;
  int priority = 0;  // lower runs first
  std::function<std::uint64_t()> estimate;  // reclaimable bytes now (may be empty)
  std::function<std::uint64_t()> run;
};

// An event source as set up on this machine, for logs and `soroka monitor`.
struct EventSourceStatus {
  std::string name;    // "cgroup-v1-threshold", "cgroup-v2-events", "psi-trigger", "poll"
  bool active = false;
  std::string detail;  // why not, when inactive ("EINVAL: PSI triggers refused")
};

class Monitor {
 public:
  using Id = std::uint64_t;

  // Takes a first sample synchronously (so level() is valid at once), sets up event
  // sources and starts the threads.
  static Result<std::unique_ptr<Monitor>> start(Sampler sampler, MonitorParams params);
  ~Monitor();  // stops

  // Thread-safe. Listeners run on the callback thread, never the sampling thread; one that
  // throws is logged and kept.
  Id add_listener(std::function<void(const LevelChange&)> fn);
  Id add_cleanup(CleanupHandler h);
  // Once it returns, the callback is not running and will not run again (unless called from
  // a callback, which may remove itself or another).
  void remove(Id id);

  Level level() const noexcept { return level_.load(std::memory_order_acquire); }
  Snapshot latest() const;
  std::vector<EventSourceStatus> sources() const;
  const TargetInfo& target() const;
  // Samples taken so far and how many were woken by a kernel event (not a timer).
  std::uint64_t samples() const noexcept { return samples_.load(); }
  std::uint64_t event_wakeups() const noexcept { return event_wakeups_.load(); }

  // Asks for an immediate sample (e.g. right after a large allocation).
  void poke();
  void stop();

  struct Impl;

 private:
  Monitor() = default;
  std::unique_ptr<Impl> impl_;
  std::atomic<Level> level_{Level::normal};
  std::atomic<std::uint64_t> samples_{0};
  std::atomic<std::uint64_t> event_wakeups_{0};
};

}  // namespace soroka::oomguard

// Snapshot: one reading of system, cgroup and process memory, and the effective view of it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

#include "oomguard/probe/cgroup_files.h"
#include "oomguard/probe/meminfo.h"
#include "oomguard/probe/psi.h"

namespace soroka::oomguard {

enum class Source { system, cgroup_v1, cgroup_v2 };
const char* to_string(Source s) noexcept;  // "system", "cgroup-v1", "cgroup-v2"

// One cgroup level's numbers, as read on the hot path.
struct LevelSample {
  std::uint64_t usage_bytes = 0;        // memory.current / memory.usage_in_bytes
  std::uint64_t working_set_bytes = 0;  // usage - inactive_file (kubelet's definition)
  Limit limit_bytes;                    // memory.max / memory.limit_in_bytes
  Limit high_bytes;                     // memory.high (v2 only)
};

struct CgroupSample {
  std::uint64_t usage_bytes = 0;  // of the watched (leaf) cgroup
  std::uint64_t working_set_bytes = 0;
  Limit limit_bytes;       // tightest memory limit on the path to the root
  Limit high_bytes;        // tightest memory.high on the path (v2)
  Limit swap_limit_bytes;  // v2 memory.swap.max; v1 memsw.limit - limit
  std::uint64_t oom_kill_count = 0;  // v2 memory.events oom_kill; v1 oom_control oom_kill
  std::uint64_t high_events = 0;     // v2 memory.events high
  std::uint64_t max_events = 0;      // v2 memory.events max; v1 memory.failcnt
};

struct ProcessSample {
  pid_t pid = 0;
  std::uint64_t rss_bytes = 0;  // statm resident: read on every sample
  // From /proc/PID/status, read by full samples only (10 us: too slow for the hot path).
  std::optional<std::uint64_t> peak_rss_bytes;  // VmHWM
  std::optional<std::uint64_t> swap_bytes;      // VmSwap
};

struct Snapshot {
  std::int64_t monotonic_ns = 0;
  Source source = Source::system;
  MemInfo system;
  std::optional<CgroupSample> cgroup;
  std::optional<ProcessSample> process;
  std::optional<Psi> psi;

  // The effective view: the constraint with the least headroom wins (a cgroup level's limit,
  // or the host's MemTotal/MemAvailable).
  std::uint64_t limit_bytes = 0;
  std::uint64_t used_bytes = 0;
  std::uint64_t available_bytes = 0;
  double used_percent = 0;
  bool bound_by_cgroup = false;  // false: the host itself is the tightest constraint
  std::uint64_t high_bytes_effective = 0;  // memory.high on the binding level, 0 if none
};

// Fills the effective fields of `snap` from the system and the levels (leaf first).
// Pure; exposed for tests.
void compute_effective(Snapshot& snap, const LevelSample* levels, std::size_t count) noexcept;

}  // namespace soroka::oomguard

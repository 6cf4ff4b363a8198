// Snapshot: one reading of system, cgroup and process memory, and the effective view of it.
#include "oomguard/snapshot.h"

#include <algorithm>

namespace soroka::oomguard {

const char* to_string(Source s) noexcept {
  switch (s) {
    case Source::system: return "system";
    case Source::cgroup_v1: return "cgroup-v1";
    case Source::cgroup_v2: return "cgroup-v2";
  }
  return "?";
}

void compute_effective(Snapshot& snap, const LevelSample* levels, std::size_t count) noexcept {
  const MemInfo& sys = snap.system;
  // The host: limit MemTotal, headroom MemAvailable.
  std::uint64_t best_headroom = sys.available_bytes;
  std::uint64_t limit = sys.total_bytes;
  std::uint64_t used = sys.total_bytes - std::min(sys.available_bytes, sys.total_bytes);
  std::uint64_t high = 0;
  bool by_cgroup = false;
  for (std::size_t i = 0; i < count; ++i) {
    const LevelSample& l = levels[i];
    if (!l.limit_bytes) continue;
    std::uint64_t lim = std::min(*l.limit_bytes, sys.total_bytes);
    std::uint64_t headroom = lim > l.working_set_bytes ? lim - l.working_set_bytes : 0;
    // Ties go to the cgroup: its limit is what the kernel enforces on us.
    if (headroom <= best_headroom) {
      best_headroom = headroom;
      limit = lim;
      used = std::min(l.working_set_bytes, lim);
      high = l.high_bytes.value_or(0);
      by_cgroup = true;
    }
  }
  // memory.high anywhere on the path throttles us; take the tightest one below the limit.
  // Only when a cgroup binds: a cgroup's high measured against the host's MemTotal and the
  // host's usage (other tenants included) would put the warning point at a meaningless
  // share of the host (MemoryHigh=1G on 24 GiB: "warning" from 4 % host usage).
  for (std::size_t i = 0; by_cgroup && i < count; ++i) {
    const auto& h = levels[i].high_bytes;
    if (h && *h < limit && (high == 0 || *h < high)) high = *h;
  }
  snap.limit_bytes = limit;
  snap.used_bytes = used;
  // Available never exceeds what the host can still give.
  snap.available_bytes = std::min(best_headroom, sys.available_bytes);
  snap.used_percent = limit ? 100.0 * static_cast<double>(used) / static_cast<double>(limit) : 0;
  snap.bound_by_cgroup = by_cgroup;
  snap.high_bytes_effective = high;
}

}  // namespace soroka::oomguard

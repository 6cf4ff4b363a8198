// How much memory the scheduler may reserve for workers, from the latest memory snapshot.
#pragma once

#include <cstdint>

#include "oomguard/levels.h"
#include "oomguard/snapshot.h"

namespace soroka::service {

// The limit less what the service itself uses and a margin that keeps the cgroup out of the
// warning zone when every reservation is in use (workers' cgroups are children of ours, so
// their pages count against our limit). The warning point is the effective one: a memory.high
// (systemd MemoryHigh) below it lowers it, so a full budget stays under the point where the
// kernel starts throttling. When the host binds, only what is available now is promised. Pure.
std::uint64_t budget_capacity(const oomguard::Snapshot& s, const oomguard::Thresholds& t);

}  // namespace soroka::service

// Audit of OOM protection (soroka monitor --check-oom): limits, thresholds, oom_score_adj,
// OOM kills in the cgroup and the kernel log.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "oomguard/levels.h"
#include "oomguard/sampler.h"

namespace soroka::oomguard {

enum class Severity { ok, info, warn, weak, oom };
const char* to_string(Severity s) noexcept;  // "ok", "info", "warn", "weak", "oom"

struct Finding {
  std::string check;  // "memory_limit", "swap_limit", "thresholds", "oom_score_adj", ...
  Severity severity = Severity::ok;
  std::string message;
};

// OOM kills found in the kernel log (dmesg), as far as it could be read.
struct KernelLogKills {
  bool readable = false;
  std::string detail;               // why not readable
  std::size_t kills = 0;            // kills attributed to the watched cgroup (or any: system)
  std::vector<std::string> lines;   // the matching "Killed process" / "oom-kill:" lines
};

struct AuditInput {
  Snapshot snapshot;
  TargetInfo target;
  Thresholds thresholds;
  std::optional<int> oom_score_adj;  // of the watched process
  KernelLogKills kernel_log;
};

struct AuditReport {
  std::vector<Finding> findings;
  int exit_code = 0;  // 0 limited and no OOM kills; 1 protection missing/weak; 2 OOM kills
};

// Pure: turns what was read into findings and the exit code.
AuditReport audit(const AuditInput& in);

// Pure: picks OOM-kill records from kernel log text (one record a line, as dmesg or
// /dev/kmsg prints them) attributed to `cgroup_path` ("/" or empty: any).
KernelLogKills parse_kernel_log_kills(std::string_view text, std::string_view cgroup_path);

// Reads the kernel ring buffer through /dev/kmsg (non-blocking, from the start).
KernelLogKills read_kernel_log_kills(std::string_view cgroup_path,
                                     const std::string& kmsg_path = "/dev/kmsg");

}  // namespace soroka::oomguard

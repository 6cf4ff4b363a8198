// Finds where a process's memory cgroup lives: parses /proc/<pid>/cgroup and mountinfo.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace soroka::oomguard {

// One line of /proc/<pid>/cgroup: "hierarchy-id:controllers:path".
struct CgroupEntry {
  int hierarchy_id = 0;
  std::string controllers;  // comma-separated; empty for the v2 line "0::/path"
  std::string path;         // relative to the hierarchy's mount, starts with '/'
};
Result<std::vector<CgroupEntry>> parse_proc_cgroup(std::string_view text);

// The v2 path ("0::") and the v1 memory path, if present.
struct ProcCgroups {
  std::optional<std::string> v2_path;
  std::optional<std::string> v1_memory_path;
};
ProcCgroups select_memory_cgroups(const std::vector<CgroupEntry>& entries);

// Mount points of cgroup hierarchies, from /proc/self/mountinfo.
struct CgroupMounts {
  std::optional<std::string> v2;         // cgroup2 mount (unified)
  std::optional<std::string> v1_memory;  // cgroup (v1) mount with the memory controller
};
Result<CgroupMounts> parse_mountinfo(std::string_view text);

}  // namespace soroka::oomguard

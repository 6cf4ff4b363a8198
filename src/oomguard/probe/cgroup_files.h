// Parsers for cgroup memory files, v1 and v2: limits, memory.stat, memory.events, oom_control.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "util/result.h"

namespace soroka::oomguard {

// A limit: a value in bytes, or nullopt for "unlimited".
using Limit = std::optional<std::uint64_t>;

// v2 memory.max / memory.high / memory.swap.max: "max" or bytes.
Result<Limit> parse_v2_limit(std::string_view text) noexcept;

// v1 memory.limit_in_bytes / memsw.limit_in_bytes: bytes; the kernel reports "unlimited" as
// PAGE_COUNTER_MAX pages (9223372036854771712 with 4 KiB pages), so anything at or above
// 2^62 is taken as unlimited.
Result<Limit> parse_v1_limit(std::string_view text) noexcept;

// A plain byte counter (memory.current, memory.usage_in_bytes, memory.failcnt).
Result<std::uint64_t> parse_counter(std::string_view text) noexcept;

// The fields we use from memory.stat. v1 names are total_* (hierarchical); v2 are plain.
struct MemoryStat {
  std::uint64_t inactive_file = 0;
  std::uint64_t active_file = 0;
  std::uint64_t anon = 0;  // v2 "anon", v1 "total_rss"
  Limit hierarchical_limit;  // v1 only: hierarchical_memory_limit
};
Result<MemoryStat> parse_v2_memory_stat(std::string_view text) noexcept;
Result<MemoryStat> parse_v1_memory_stat(std::string_view text) noexcept;

// v2 memory.events: "low N\nhigh N\nmax N\noom N\noom_kill N[\noom_group_kill N]".
struct MemoryEvents {
  std::uint64_t low = 0, high = 0, max = 0, oom = 0, oom_kill = 0;
};
Result<MemoryEvents> parse_v2_memory_events(std::string_view text) noexcept;

// v1 memory.oom_control: "oom_kill_disable 0\nunder_oom 0\noom_kill N" (oom_kill since 4.13).
struct OomControl {
  bool oom_kill_disable = false;
  bool under_oom = false;
  std::uint64_t oom_kill = 0;
};
Result<OomControl> parse_v1_oom_control(std::string_view text) noexcept;

}  // namespace soroka::oomguard

// Parsers for /proc/<pid>/{statm,status,smaps_rollup,oom_score_adj}: one process's memory.
#pragma once

#include <cstdint>
#include <string_view>

#include "util/result.h"

namespace soroka::oomguard {

struct ProcStatus {
  std::uint64_t rss_bytes = 0;   // VmRSS
  std::uint64_t hwm_bytes = 0;   // VmHWM: peak RSS
  std::uint64_t swap_bytes = 0;  // VmSwap
};

struct SmapsRollup {
  std::uint64_t rss_bytes = 0;
  std::uint64_t pss_bytes = 0;
  std::uint64_t anonymous_bytes = 0;
  std::uint64_t swap_bytes = 0;
};

// statm: "size resident shared text lib data dt" in pages; returns resident bytes.
Result<std::uint64_t> parse_statm_rss(std::string_view text, std::uint64_t page_size) noexcept;
// status: VmRSS is required (kernel threads and zombies lack it: an error).
Result<ProcStatus> parse_proc_status(std::string_view text) noexcept;
Result<SmapsRollup> parse_smaps_rollup(std::string_view text) noexcept;
// oom_score_adj: an integer in [-1000, 1000].
Result<int> parse_oom_score_adj(std::string_view text) noexcept;

}  // namespace soroka::oomguard

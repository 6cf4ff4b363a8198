// Parser for /proc/meminfo: the system-wide view (MemTotal, MemAvailable, swap).
#pragma once

#include <cstdint>
#include <string_view>

#include "util/result.h"

namespace soroka::oomguard {

struct MemInfo {
  std::uint64_t total_bytes = 0;
  std::uint64_t free_bytes = 0;
  std::uint64_t available_bytes = 0;  // MemAvailable; estimated from Free+caches before 3.14
  std::uint64_t swap_total_bytes = 0;
  std::uint64_t swap_free_bytes = 0;
};

// Pure parser; `text` is the file's content. MemTotal and MemFree are required.
Result<MemInfo> parse_meminfo(std::string_view text) noexcept;

}  // namespace soroka::oomguard

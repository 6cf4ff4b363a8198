// Parser for /proc/meminfo: the system-wide view (MemTotal, MemAvailable, swap).
#include "oomguard/probe/meminfo.h"

#include <cstdint>

#include "util/parse.h"

namespace soroka::oomguard {

Result<MemInfo> parse_meminfo(std::string_view text) noexcept {
  MemInfo m;
  bool have_total = false, have_free = false, have_avail = false;
  std::uint64_t buffers = 0, cached = 0;
  while (!text.empty()) {
    std::string_view line = parse::next_line(text);
    std::string_view key = parse::next_token(line);
    if (key.empty() || key.back() != ':') continue;
    key.remove_suffix(1);
    std::uint64_t* dst = nullptr;
    if (key == "MemTotal") dst = &m.total_bytes, have_total = true;
    else if (key == "MemFree") dst = &m.free_bytes, have_free = true;
    else if (key == "MemAvailable") dst = &m.available_bytes, have_avail = true;
    else if (key == "SwapTotal") dst = &m.swap_total_bytes;
    else if (key == "SwapFree") dst = &m.swap_free_bytes;
    else if (key == "Buffers") dst = &buffers;
    else if (key == "Cached") dst = &cached;
    else continue;
    auto v = parse::u64(parse::next_token(line));
    // The kernel prints kB (KiB); a count whose bytes overflow 64 bits is not from a kernel.
    if (!v || *v > UINT64_MAX / 1024)
      return fail("malformed /proc/meminfo line for " + std::string(key), EINVAL);
    *dst = *v * 1024;
  }
  if (!have_total || !have_free) return fail("/proc/meminfo lacks MemTotal or MemFree", EINVAL);
  if (m.total_bytes == 0) return fail("/proc/meminfo reports MemTotal 0", EINVAL);
  // Kernels before 3.14 lack MemAvailable: approximate it as free memory plus page cache.
  if (!have_avail) m.available_bytes = m.free_bytes + buffers + cached;
  if (m.available_bytes > m.total_bytes) m.available_bytes = m.total_bytes;
  return m;
}

}  // namespace soroka::oomguard

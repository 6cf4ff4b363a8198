// Parser for /proc/meminfo: the system-wide view (MemTotal, MemAvailable, swap).
#include "oomguard/probe/meminfo.h"

#include <cstdint>
#include <iterator>
#include <type_traits>

#include "util/parse.h"

namespace soroka::oomguard {

Result<MemInfo> parse_meminfo(std::string_view text) noexcept {
  MemInfo m;
  std::uint64_t buffers = 0, cached = 0;
  struct Field {
    std::string_view key;
    std::uint64_t* dst;
  };
  const Field fields[] = {{"MemTotal", &m.total_bytes},     {"MemFree", &m.free_bytes},
                          {"MemAvailable", &m.available_bytes}, {"Buffers", &buffers},
                          {"Cached", &cached},              {"SwapTotal", &m.swap_total_bytes},
                          {"SwapFree", &m.swap_free_bytes}};
  constexpr unsigned kAll = (1u << std::extent_v<decltype(fields)>) - 1;
  unsigned seen = 0;
  // The seven keys are in the first 16 of ~55 lines (6.x): stopping once all are seen halves
  // the parse of the file the monitor reads most.
  while (!text.empty() && seen != kAll) {
    std::string_view line = parse::next_line(text);
    std::string_view key = parse::next_token(line);
    if (key.empty() || key.back() != ':') continue;
    key.remove_suffix(1);
    std::size_t i = 0;
    while (i < std::size(fields) && fields[i].key != key) ++i;
    if (i == std::size(fields)) continue;
    auto v = parse::u64(parse::next_token(line));
    // The kernel prints kB (KiB); a count whose bytes overflow 64 bits is not from a kernel.
    if (!v || *v > UINT64_MAX / 1024)
      return fail("malformed /proc/meminfo line for " + std::string(key), EINVAL);
    *fields[i].dst = *v * 1024;
    seen |= 1u << i;
  }
  const bool have_total = seen & 1u, have_free = seen & 2u, have_avail = seen & 4u;
  if (!have_total || !have_free) return fail("/proc/meminfo lacks MemTotal or MemFree", EINVAL);
  if (m.total_bytes == 0) return fail("/proc/meminfo reports MemTotal 0", EINVAL);
  // Kernels before 3.14 lack MemAvailable: approximate it as free memory plus page cache.
  if (!have_avail) m.available_bytes = m.free_bytes + buffers + cached;
  if (m.available_bytes > m.total_bytes) m.available_bytes = m.total_bytes;
  return m;
}

}  // namespace soroka::oomguard

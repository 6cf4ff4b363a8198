// Parsers for /proc/<pid>/{statm,status,smaps_rollup,oom_score_adj}: one process's memory.
#include "oomguard/probe/process.h"

#include <cstdint>

#include "util/parse.h"

namespace soroka::oomguard {

namespace {
// Parses "Key:   123 kB" lines, calling on(key, bytes) for each well-formed one.
template <class F>
bool for_each_kb_line(std::string_view text, F&& on) noexcept {
  while (!text.empty()) {
    std::string_view line = parse::next_line(text);
    std::string_view key = parse::next_token(line);
    if (key.size() < 2 || key.back() != ':') continue;
    key.remove_suffix(1);
    std::string_view num = parse::next_token(line);
    std::string_view unit = parse::next_token(line);
    if (unit != "kB") continue;  // not a memory line
    auto v = parse::u64(num);
    if (!v || *v > UINT64_MAX / 1024) return false;  // bytes would overflow: not a kernel's
    on(key, *v * 1024);
  }
  return true;
}
}  // namespace

Result<std::uint64_t> parse_statm_rss(std::string_view text, std::uint64_t page_size) noexcept {
  parse::next_token(text);  // size
  auto resident = parse::u64(parse::next_token(text));
  if (!resident || (page_size != 0 && *resident > UINT64_MAX / page_size))
    return fail("malformed statm", EINVAL);
  return *resident * page_size;
}

Result<ProcStatus> parse_proc_status(std::string_view text) noexcept {
  ProcStatus s;
  bool have_rss = false;
  bool ok = for_each_kb_line(text, [&](std::string_view key, std::uint64_t bytes) {
    if (key == "VmRSS") s.rss_bytes = bytes, have_rss = true;
    else if (key == "VmHWM") s.hwm_bytes = bytes;
    else if (key == "VmSwap") s.swap_bytes = bytes;
  });
  if (!ok) return fail("malformed status line", EINVAL);
  if (!have_rss) return fail("status has no VmRSS (kernel thread or zombie?)", ESRCH);
  return s;
}

Result<SmapsRollup> parse_smaps_rollup(std::string_view text) noexcept {
  SmapsRollup s;
  bool have_rss = false;
  bool ok = for_each_kb_line(text, [&](std::string_view key, std::uint64_t bytes) {
    if (key == "Rss") s.rss_bytes = bytes, have_rss = true;
    else if (key == "Pss") s.pss_bytes = bytes;
    else if (key == "Anonymous") s.anonymous_bytes = bytes;
    else if (key == "Swap") s.swap_bytes = bytes;
  });
  if (!ok) return fail("malformed smaps_rollup line", EINVAL);
  if (!have_rss) return fail("smaps_rollup has no Rss", EINVAL);
  return s;
}

Result<int> parse_oom_score_adj(std::string_view text) noexcept {
  auto v = parse::i64(text);
  if (!v || *v < -1000 || *v > 1000) return fail("malformed oom_score_adj", EINVAL);
  return static_cast<int>(*v);
}

}  // namespace soroka::oomguard

// Parsers for cgroup memory files, v1 and v2: limits, memory.stat, memory.events, oom_control.
#include "oomguard/probe/cgroup_files.h"

#include "util/parse.h"

namespace soroka::oomguard {

namespace {
constexpr std::uint64_t kV1Unlimited = std::uint64_t{1} << 62;
}

Result<Limit> parse_v2_limit(std::string_view text) noexcept {
  std::string_view t = parse::trim(text);
  if (t == "max") return Limit{};
  auto v = parse::u64(t);
  if (!v) return fail("malformed limit (want bytes or 'max')", EINVAL);
  return Limit{*v};
}

Result<Limit> parse_v1_limit(std::string_view text) noexcept {
  auto v = parse::u64(text);
  if (!v) {
    // Some kernels print -1 for an unset memsw limit.
    if (parse::trim(text) == "-1") return Limit{};
    return fail("malformed limit (want bytes)", EINVAL);
  }
  if (*v >= kV1Unlimited) return Limit{};
  return Limit{*v};
}

Result<std::uint64_t> parse_counter(std::string_view text) noexcept {
  auto v = parse::u64(text);
  if (!v) return fail("malformed counter", EINVAL);
  return *v;
}

namespace {
template <class F>
bool for_each_pair(std::string_view text, F&& on) noexcept {
  while (!text.empty()) {
    std::string_view line = parse::next_line(text);
    std::string_view key = parse::next_token(line);
    if (key.empty()) continue;
    auto v = parse::u64(parse::next_token(line));
    if (!v) return false;
    on(key, *v);
  }
  return true;
}
}  // namespace

Result<MemoryStat> parse_v2_memory_stat(std::string_view text) noexcept {
  MemoryStat s;
  bool have_inactive = false;
  bool ok = for_each_pair(text, [&](std::string_view k, std::uint64_t v) {
    if (k == "inactive_file") s.inactive_file = v, have_inactive = true;
    else if (k == "active_file") s.active_file = v;
    else if (k == "anon") s.anon = v;
  });
  if (!ok) return fail("malformed memory.stat line", EINVAL);
  if (!have_inactive) return fail("memory.stat has no inactive_file", EINVAL);
  return s;
}

Result<MemoryStat> parse_v1_memory_stat(std::string_view text) noexcept {
  MemoryStat s;
  bool have_inactive = false;
  bool ok = for_each_pair(text, [&](std::string_view k, std::uint64_t v) {
    if (k == "total_inactive_file") s.inactive_file = v, have_inactive = true;
    else if (k == "total_active_file") s.active_file = v;
    else if (k == "total_rss") s.anon = v;
    else if (k == "hierarchical_memory_limit" && v < kV1Unlimited) s.hierarchical_limit = v;
  });
  if (!ok) return fail("malformed memory.stat line", EINVAL);
  if (!have_inactive) return fail("memory.stat has no total_inactive_file", EINVAL);
  return s;
}

Result<MemoryEvents> parse_v2_memory_events(std::string_view text) noexcept {
  MemoryEvents e;
  bool have_max = false;
  bool ok = for_each_pair(text, [&](std::string_view k, std::uint64_t v) {
    if (k == "low") e.low = v;
    else if (k == "high") e.high = v;
    else if (k == "max") e.max = v, have_max = true;
    else if (k == "oom") e.oom = v;
    else if (k == "oom_kill") e.oom_kill = v;
  });
  if (!ok) return fail("malformed memory.events line", EINVAL);
  if (!have_max) return fail("memory.events has no 'max' line", EINVAL);
  return e;
}

Result<OomControl> parse_v1_oom_control(std::string_view text) noexcept {
  OomControl o;
  bool have_disable = false;
  bool ok = for_each_pair(text, [&](std::string_view k, std::uint64_t v) {
    if (k == "oom_kill_disable") o.oom_kill_disable = v != 0, have_disable = true;
    else if (k == "under_oom") o.under_oom = v != 0;
    else if (k == "oom_kill") o.oom_kill = v;
  });
  if (!ok) return fail("malformed memory.oom_control line", EINVAL);
  if (!have_disable) return fail("memory.oom_control has no oom_kill_disable", EINVAL);
  return o;
}

}  // namespace soroka::oomguard

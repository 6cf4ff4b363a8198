// Fuzzes the cgroup v1/v2 file parsers: limits, counters, memory.stat, memory.events, oom_control.
#include "fuzz_check.h"
#include "oomguard/probe/cgroup_files.h"

using namespace soroka::oomguard;

namespace {
constexpr std::uint64_t kV1Unlimited = std::uint64_t{1} << 62;  // documented in the header
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = soroka::fuzz::as_text(data, size);
  (void)parse_v2_limit(text);
  if (auto l = parse_v1_limit(text); l && *l) FUZZ_CHECK(**l < kV1Unlimited);
  (void)parse_counter(text);
  (void)parse_v2_memory_stat(text);
  if (auto s = parse_v1_memory_stat(text); s && s->hierarchical_limit)
    FUZZ_CHECK(*s->hierarchical_limit < kV1Unlimited);
  (void)parse_v2_memory_events(text);
  (void)parse_v1_oom_control(text);
  return 0;
}

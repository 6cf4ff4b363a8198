// Fuzzes parse_proc_cgroup (/proc/PID/cgroup) and select_memory_cgroups on what it returns.
#include "fuzz_check.h"
#include "oomguard/probe/cgroup_locate.h"

using namespace soroka::oomguard;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto entries = parse_proc_cgroup(soroka::fuzz::as_text(data, size));
  if (!entries) return 0;
  FUZZ_CHECK(!entries->empty());
  for (const auto& e : *entries) {
    FUZZ_CHECK(e.hierarchy_id >= 0);  // the kernel's hierarchy ids: 0 (v2) and 1.. (v1)
    FUZZ_CHECK(!e.path.empty() && e.path.front() == '/');
    FUZZ_CHECK(e.controllers.find(':') == std::string::npos);
    FUZZ_CHECK(e.path.find('\n') == std::string::npos);
  }
  auto pc = select_memory_cgroups(*entries);
  auto from_entries = [&](const std::optional<std::string>& p) {
    if (!p) return true;
    for (const auto& e : *entries)
      if (e.path == *p) return true;
    return false;
  };
  FUZZ_CHECK(from_entries(pc.v2_path));
  FUZZ_CHECK(from_entries(pc.v1_memory_path));
  return 0;
}

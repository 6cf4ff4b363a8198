// Fuzzes parse_mountinfo (/proc/self/mountinfo): where the cgroup hierarchies are mounted.
#include "fuzz_check.h"
#include "oomguard/probe/cgroup_locate.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto m = soroka::oomguard::parse_mountinfo(soroka::fuzz::as_text(data, size));
  if (m) {
    // A mount point is one token of the line: unescaped it may hold a space, never a newline
    // that was not written as \012, and never nothing.
    if (m->v2) FUZZ_CHECK(!m->v2->empty());
    if (m->v1_memory) FUZZ_CHECK(!m->v1_memory->empty());
  }
  return 0;
}

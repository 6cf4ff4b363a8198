// Fuzzes parse_meminfo (/proc/meminfo) against its contract: MemTotal > 0, available <= total.
#include "fuzz_check.h"
#include "oomguard/probe/meminfo.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto m = soroka::oomguard::parse_meminfo(soroka::fuzz::as_text(data, size));
  if (m) {
    FUZZ_CHECK(m->total_bytes > 0);
    FUZZ_CHECK(m->available_bytes <= m->total_bytes);
    FUZZ_CHECK(m->total_bytes % 1024 == 0);  // the kernel prints kB
  } else {
    FUZZ_CHECK(!m.error().message.empty());
  }
  return 0;
}

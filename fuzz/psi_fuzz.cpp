// Fuzzes parse_psi (/proc/pressure/memory, memory.pressure): averages are percentages.
#include <cmath>

#include "fuzz_check.h"
#include "oomguard/probe/psi.h"

namespace {
void check_line(const soroka::oomguard::PsiLine& l) {
  for (double avg : {l.avg10, l.avg60, l.avg300})
    FUZZ_CHECK(std::isfinite(avg) && avg >= 0 && avg <= 100);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto p = soroka::oomguard::parse_psi(soroka::fuzz::as_text(data, size));
  if (p) {
    check_line(p->some);
    check_line(p->full);
  }
  return 0;
}

// Parser for PSI files (/proc/pressure/memory, cgroup v2 memory.pressure).
#pragma once

#include <cstdint>
#include <string_view>

#include "util/result.h"

namespace soroka::oomguard {

struct PsiLine {
  double avg10 = 0, avg60 = 0, avg300 = 0;  // percent of wall time stalled
  std::uint64_t total_us = 0;
};

struct Psi {
  PsiLine some;
  PsiLine full;  // absent on kernels before 5.13 for the system file's cpu; zero then
};

// "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull ...". "some" is required.
Result<Psi> parse_psi(std::string_view text) noexcept;

}  // namespace soroka::oomguard

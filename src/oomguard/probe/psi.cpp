// Parser for PSI files (/proc/pressure/memory, cgroup v2 memory.pressure).
#include "oomguard/probe/psi.h"

#include "util/parse.h"

namespace soroka::oomguard {

namespace {
bool parse_psi_fields(std::string_view rest, PsiLine& out) noexcept {
  // Each of the four fields once; a repeated one must not stand in for a missing one.
  unsigned seen = 0;
  for (std::string_view tok = parse::next_token(rest); !tok.empty();
       tok = parse::next_token(rest)) {
    auto eq = tok.find('=');
    if (eq == std::string_view::npos) return false;
    std::string_view k = tok.substr(0, eq), v = tok.substr(eq + 1);
    if (k == "total") {
      auto n = parse::u64(v);
      if (!n || (seen & 8u)) return false;
      out.total_us = *n, seen |= 8u;
    } else {
      auto d = parse::f64(v);
      if (!d) return false;
      // A share of wall time: the kernel prints 0.00..100.00; from_chars also takes "nan",
      // "inf" and negatives, which no kernel writes.
      const int i = k == "avg10" ? 0 : k == "avg60" ? 1 : k == "avg300" ? 2 : -1;
      if (i < 0) continue;  // a field a later kernel may add
      const unsigned bit = 1u << i;
      if (!(*d >= 0 && *d <= 100) || (seen & bit)) return false;
      double* avg[] = {&out.avg10, &out.avg60, &out.avg300};
      *avg[i] = *d, seen |= bit;
    }
  }
  return seen == 15u;
}
}  // namespace

Result<Psi> parse_psi(std::string_view text) noexcept {
  Psi p;
  bool have_some = false;
  while (!text.empty()) {
    std::string_view line = parse::next_line(text);
    std::string_view kind = parse::next_token(line);
    if (kind.empty()) continue;
    PsiLine* dst = kind == "some" ? &p.some : kind == "full" ? &p.full : nullptr;
    if (!dst) return fail("unknown PSI line kind", EINVAL);
    if (!parse_psi_fields(line, *dst)) return fail("malformed PSI line", EINVAL);
    if (dst == &p.some) have_some = true;
  }
  if (!have_some) return fail("PSI file has no 'some' line", EINVAL);
  return p;
}

}  // namespace soroka::oomguard

// Fuzzes parse_size against a long-double reference, and format_size -> parse_size round trips.
#include <cmath>
#include <cstdlib>
#include <string>

#include "util/units.h"
#include "fuzz_check.h"
#include "util/parse.h"

namespace {
// The multiplier a unit names, as config/units.h documents them.
long double unit_mult(std::string_view u) {
  const char* p = "KMGTPE";
  if (u.empty() || u == "B") return 1;
  auto at = std::string_view(p).find(u.front());
  if (at == std::string_view::npos) return -1;
  std::string_view rest = u.substr(1);
  if (rest.empty() || rest == "iB") return std::pow(1024.0L, static_cast<long double>(at + 1));
  if (rest == "B") return std::pow(1000.0L, static_cast<long double>(at + 1));
  return -1;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = soroka::fuzz::as_text(data, size);
  auto v = soroka::parse_size(text);
  if (!v) return 0;

  // The value is the number times its unit, to double precision.
  std::string_view t = soroka::parse::trim(text);
  std::size_t n = 0;
  while (n < t.size() && ((t[n] >= '0' && t[n] <= '9') || t[n] == '.')) ++n;
  long double mult = unit_mult(soroka::parse::trim(t.substr(n)));
  FUZZ_CHECK(mult > 0);
  std::string num(t.substr(0, n));
  long double ref = std::strtold(num.c_str(), nullptr) * mult;
  long double got = static_cast<long double>(*v);
  FUZZ_CHECK(std::fabs(got - ref) <= std::max(1.0L, ref * 1e-15L));

  // What format_size prints (one decimal) reads back to within 5 % of the value.
  std::string shown = soroka::format_size(*v);
  auto back = soroka::parse_size(shown);
  FUZZ_CHECK(back.has_value());
  long double diff = std::fabs(static_cast<long double>(*back) - got);
  FUZZ_CHECK(diff <= got * 0.05L + 1);
  return 0;
}

// Byte units: the constants, and how sizes are parsed (config) and written (messages, log events).
#include "util/units.h"

#include <cmath>

#include <fmt/format.h>

#include "util/parse.h"

namespace soroka {

std::string format_mib(std::uint64_t bytes) {
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / static_cast<double>(kMiB));
}

std::optional<std::uint64_t> parse_size(std::string_view text) noexcept {
  text = parse::trim(text);
  std::size_t n = 0;
  while (n < text.size() && ((text[n] >= '0' && text[n] <= '9') || text[n] == '.')) ++n;
  if (n == 0) return std::nullopt;
  std::string_view num = text.substr(0, n);
  std::string_view unit = parse::trim(text.substr(n));
  double mult = 1;
  struct U {
    std::string_view name;
    double mult;
  };
  static constexpr U units[] = {
      {"", 1},          {"B", 1},
      {"K", 1024.0},    {"KiB", 1024.0},    {"KB", 1e3},
      {"M", 1048576.0}, {"MiB", 1048576.0}, {"MB", 1e6},
      {"G", 1073741824.0}, {"GiB", 1073741824.0}, {"GB", 1e9},
      {"T", 1099511627776.0}, {"TiB", 1099511627776.0}, {"TB", 1e12},
      // format_size prints PiB and EiB: what it prints must read back.
      {"P", 1125899906842624.0}, {"PiB", 1125899906842624.0}, {"PB", 1e15},
      {"E", 1152921504606846976.0}, {"EiB", 1152921504606846976.0}, {"EB", 1e18},
  };
  bool found = false;
  for (const auto& u : units) {
    if (u.name == unit) {
      mult = u.mult;
      found = true;
      break;
    }
  }
  if (!found) return std::nullopt;
  if (num.find('.') == std::string_view::npos) {
    auto v = parse::u64(num);
    if (!v) return std::nullopt;
    double bytes = static_cast<double>(*v) * mult;
    if (bytes >= 1.8e19) return std::nullopt;
    if (mult == 1) return *v;
    return static_cast<std::uint64_t>(bytes);
  }
  auto d = parse::f64(num);
  if (!d || !std::isfinite(*d) || *d < 0) return std::nullopt;
  double bytes = std::round(*d * mult);
  if (bytes >= 1.8e19) return std::nullopt;
  // Not llround: its long long ends at 2^63 (9.2e18), below what a uint64_t holds.
  return static_cast<std::uint64_t>(bytes);
}

std::string format_size(std::uint64_t bytes) {
  static constexpr const char* names[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  int i = 0;
  while (v >= 1024.0 && i < 6) v /= 1024.0, ++i;
  if (i == 0) return fmt::format("{} B", bytes);
  return fmt::format("{:.1f} {}", v, names[i]);
}

}  // namespace soroka

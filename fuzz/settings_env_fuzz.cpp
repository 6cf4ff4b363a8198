// Fuzzes apply_env: lines "<byte><value>", the byte choosing which SOROKA_* variable is set.
#include <algorithm>
#include <cctype>
#include <map>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "settings_check.h"
#include "util/parse.h"

namespace {
// "memory.warning_percent" -> "SOROKA_MEMORY_WARNING_PERCENT", for every documented key.
const std::vector<std::string>& env_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& k : soroka::settings_keys()) {
      std::string v = "SOROKA_" + k.key;
      std::replace(v.begin(), v.end(), '.', '_');
      std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::toupper(c); });
      out.push_back(v);
    }
    return out;
  }();
  return names;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text = soroka::fuzz::as_text(data, size);
  std::map<std::string, std::string> env;
  while (!text.empty()) {
    std::string_view line = soroka::parse::next_line(text);
    if (line.empty()) continue;
    const auto& names = env_names();
    env[names[static_cast<unsigned char>(line.front()) % names.size()]] = std::string(line.substr(1));
  }
  soroka::Settings s;
  if (soroka::apply_env(s, env)) soroka::fuzz::check_settings(s);
  return 0;
}

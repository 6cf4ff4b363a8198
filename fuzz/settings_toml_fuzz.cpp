// Fuzzes apply_toml: a TOML settings file onto the defaults; what it accepts must be usable.
#include "fuzz_check.h"
#include "settings_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  soroka::Settings s;
  auto r = soroka::apply_toml(s, soroka::fuzz::as_text(data, size), "fuzz.toml");
  if (r) soroka::fuzz::check_settings(s);
  else FUZZ_CHECK(r.error().message.rfind("fuzz.toml", 0) == 0);  // errors name the file
  return 0;
}

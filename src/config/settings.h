// Settings: every tunable of Soroka, from defaults, a TOML file and SOROKA_* variables.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "oomguard/admission.h"
#include "oomguard/monitor.h"
#include "util/result.h"

namespace soroka {

struct Settings {
  oomguard::MonitorParams monitor;  // includes the thresholds
  oomguard::AdmissionParams admission;
  std::string log_level = "info";

  std::string loaded_from;  // the config file used, empty when none
};

// Where `soroka` looks for a config file when --config is not given, first match wins:
// $SOROKA_CONFIG, ./soroka.toml, $XDG_CONFIG_HOME/soroka/soroka.toml (default
// ~/.config/soroka/soroka.toml), /etc/soroka/soroka.toml.
std::vector<std::string> default_config_paths(const std::map<std::string, std::string>& env);

// The environment as a map (for tests: pass your own).
std::map<std::string, std::string> current_environment();

// Precedence, lowest first: defaults, the config file, SOROKA_<SECTION>_<KEY> variables
// (e.g. SOROKA_MEMORY_WARNING_PERCENT=80). An explicit `config_path` that does not exist is
// an error; a missing default one is not. Unknown keys and invalid values are errors naming
// the key, the value and where it came from.
Result<Settings> load_settings(const std::optional<std::string>& config_path,
                               const std::map<std::string, std::string>& env);

// Parses TOML text onto `s` (exposed for tests). `origin` names the source in errors.
Result<void> apply_toml(Settings& s, std::string_view text, const std::string& origin);
Result<void> apply_env(Settings& s, const std::map<std::string, std::string>& env);

// Every key as "section.key", with its type and default, for docs and --help.
struct KeyDoc {
  std::string key;
  std::string type;
  std::string default_value;
  std::string help;
};
std::vector<KeyDoc> settings_keys();

}  // namespace soroka

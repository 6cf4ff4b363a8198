// [engines.NAME] tables read from a TOML document the caller parsed (settings.cpp parses the
// config file once for every section); kept apart so toml++ stays out of remote_engines.h.
#pragma once

#include <string>
#include <vector>

#include <toml++/toml.h>

#include "config/remote_engines.h"
#include "util/result.h"

namespace soroka {

// Reads every [engines.NAME] table of `doc` (other sections are ignored) onto `out`, replacing
// entries of the same name. Unknown keys and wrong types are errors naming engines.NAME.key
// and `origin`.
Result<void> apply_engines_toml(std::vector<RemoteEngineSettings>& out, const toml::table& doc,
                                const std::string& origin);

}  // namespace soroka

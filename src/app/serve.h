// Service: `soroka serve` assembled: state dir, job store, memory monitor and budget, workers,
// HTTP server, signals.
#pragma once

#include <optional>
#include <string>

#include "config/settings.h"

namespace soroka::service {

struct ServeOptions {
  std::optional<std::string> config_path;
  std::optional<std::string> listen;     // overrides server.listen
  std::optional<std::string> state_dir;  // overrides server.state_dir
  std::string soroka_exe;                // the binary workers run (`soroka worker`)
  // false: `soroka bot`, no HTTP listener; the Telegram bot must then be configured.
  bool http = true;
};

// Runs until SIGTERM or SIGINT (then drains and returns 0); SIGHUP reloads the configuration.
// The Telegram bot runs beside the HTTP API when a token is configured (telegram.*).
// Returns 1 when start-up fails (port taken, state dir unusable, the Bot API refuses the
// token), 64 for a bad configuration.
int serve(const ServeOptions& options, Settings settings);

// "HOST:PORT" -> host, port; nullopt when malformed.
std::optional<std::pair<std::string, int>> parse_listen(const std::string& s);

}  // namespace soroka::service

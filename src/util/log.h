// Logging: one event a line on stderr, via spdlog.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace soroka::log {

// Sets up the default logger on stderr: "2026-11-28T13:00:00.123Z info  message".
// level: trace, debug, info, warn, error, critical, off.
void init(std::string_view level = "info");

}  // namespace soroka::log

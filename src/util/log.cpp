// Logging: one event a line on stderr, via spdlog.
#include "util/log.h"

#include <spdlog/sinks/stdout_sinks.h>

namespace soroka::log {

void init(std::string_view level) {
  spdlog::drop("soroka");
  auto logger = spdlog::stderr_logger_mt("soroka");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %-5l %v", spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(std::string(level)));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace soroka::log

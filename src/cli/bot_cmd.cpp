// soroka bot: the Telegram bot alone (no HTTP listener) on the same job store, budget and
// workers that `soroka serve` builds.
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "app/serve.h"
#include "cli/commands.h"
#include "config/settings.h"
#include "util/log.h"

namespace soroka::cli {

namespace {

struct BotArgs {
  std::optional<std::string> state_dir;
};

}  // namespace

Runner add_bot_command(CLI::App& app, const Global& g) {
  auto a = std::make_shared<BotArgs>();
  CLI::App* sub = app.add_subcommand(
      "bot",
      "Run the Telegram bot without the HTTP API: long polling, jobs in SQLite under the state dir, "
      "worker processes in their own memory cgroups. Needs telegram.token (or token_file, or "
      "SOROKA_TELEGRAM_TOKEN). SIGTERM stops, SIGHUP reloads the config.");
  sub->add_option("--state-dir", a->state_dir, "jobs database, uploads and results (default: server.state_dir)");
  return [a, &g] {
    auto settings = load_settings(g.config_path, current_environment());
    if (!settings) {
      std::fprintf(stderr, "soroka: %s\n", settings.error().message.c_str());
      return static_cast<int>(kUsage);
    }
    spdlog::set_level(spdlog::level::from_str(settings->log_level));
    service::ServeOptions o;
    o.config_path = g.config_path;
    o.state_dir = a->state_dir;
    o.soroka_exe = self_exe();
    o.http = false;
    if (const char* w = std::getenv("SOROKA_WORKER_BINARY"); w && *w) o.soroka_exe = w;
    return service::serve(o, std::move(*settings));
  };
}

}  // namespace soroka::cli

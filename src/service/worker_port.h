// The seam between the scheduler and worker processes: what it needs of one worker and of starting one.
#pragma once

// The scheduler and the pool see workers only through these two interfaces: in production a
// `soroka worker` process in its own cgroup (service/process_worker.h), in tests a scripted
// fake (tests/service/fake_workers.h), so that scheduling decisions are tested without
// processes.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.h"
#include "worker/supervisor.h"

namespace soroka::service {

// One worker, as the scheduler talks to it. send/receive belong to the thread running the
// worker's job; terminate, shed, running and pid may be called from any thread.
class WorkerConn {
 public:
  virtual ~WorkerConn() = default;
  virtual pid_t pid() const = 0;
  virtual std::string cgroup() const = 0;  // for logs; "" without one
  virtual bool running() const = 0;
  // One line to the worker (the '\n' is added); ETIMEDOUT when it does not take it in time.
  virtual Result<void> send(std::string_view line, std::chrono::milliseconds timeout) = 0;
  // The next line; ETIMEDOUT when none comes in time, EPIPE once the worker closed its output.
  virtual Result<std::string> receive(std::chrono::milliseconds timeout) = 0;
  // Memory is critical: asks the worker to drop caches. Never blocks; a full pipe loses it.
  virtual void shed() = 0;
  // SIGTERM now, SIGKILL after `grace`; the end is then "cancelled". Returns at once.
  virtual void terminate(std::chrono::milliseconds grace) = 0;
  // Its memory limit; ENOTSUP without a cgroup; fails when the kernel cannot shrink it.
  virtual Result<void> resize(std::uint64_t limit_bytes) = 0;
  virtual void close_input() = 0;  // end of input: a worker exits when it has no job
  virtual worker::WorkerExit wait() = 0;
  virtual std::optional<worker::WorkerExit> wait_for(std::chrono::milliseconds timeout) = 0;
};

// Starts workers. `label` names the job it is started for, in logs and the cgroup's name.
class WorkerLauncher {
 public:
  virtual ~WorkerLauncher() = default;
  virtual Result<std::shared_ptr<WorkerConn>> launch(const std::string& model,
                                                     std::uint64_t limit_bytes,
                                                     const std::string& label) = 0;
};

}  // namespace soroka::service

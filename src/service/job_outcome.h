// Job outcome: how the end of a run (what the worker said, how it ended, why we stopped it) maps to the store.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "jobs/job_store.h"
#include "util/failure_kind.h"
#include "worker/supervisor.h"

namespace soroka::service {

// Everything the decision needs about one run, gathered by the scheduler (no I/O in here).
struct RunEnd {
  // What the worker said about the job. done: the result is written; failed: it gave up.
  enum class Report { none, done, failed };
  Report report = Report::none;
  FailureKind reported_kind = FailureKind::none;  // with failed
  std::string worker_error;                       // its message (also a load failure's)
  // With done: why the result cannot be used (missing, not durable); empty when it can.
  std::string result_problem;
  // Set when the worker process ended; nullopt when the job ended and the worker lives on.
  std::optional<worker::WorkerExit> exit;
  // Why the scheduler stopped the worker, if it did.
  bool cancel = false, preempt = false, shutdown = false, timed_out = false, stalled = false;
  bool stale = false;  // the lease was lost: another run owns the job
  std::uint64_t peak_bytes = 0;  // the run's peak (the worker's report, else the cgroup's)
  std::uint64_t limit_bytes = 0;  // the worker's memory limit during the run
  int degrade = 0;                // the job's degrade level during the run (OOM kills so far)
  int attempt = 1, max_attempts = 1;
  std::chrono::milliseconds worker_timeout{0}, stall_timeout{0};  // for the messages
};

struct Outcome {
  enum class Action {
    complete,  // the result is the job's
    fail,      // store.fail(failure): re-queued while retryable and attempts remain
    cancel,    // the user cancelled it
    release,   // back to the queue without using an attempt (memory critical, shutdown)
    drop,      // not ours to record (stale run); the run's result file is deleted
  };
  Action action = Action::fail;
  jobs::Failure failure;  // with fail
};

// Pure. A conclusive report wins over how the process ended (a worker killed after writing
// its result still completed the job); our own stop (timeout, stall) names the end before the
// kernel's signal does; the kernel's OOM kill re-queues with cheaper settings and its limit
// as the peak, so the next run reserves more.
Outcome decide_outcome(const RunEnd& end);

}  // namespace soroka::service

// Job outcome: how the end of a run (what the worker said, how it ended, why we stopped it) maps to the store.
#include "service/job_outcome.h"

#include <algorithm>

#include <fmt/format.h>

#include "util/units.h"
#include "worker/protocol.h"

namespace soroka::service {

namespace {

using Action = Outcome::Action;

long long secs(std::chrono::milliseconds d) {
  return std::chrono::duration_cast<std::chrono::seconds>(d).count();
}

Outcome failed(std::string reason, bool retryable, FailureKind kind, std::uint64_t peak,
               bool degrade = false) {
  return {Action::fail, jobs::Failure{std::move(reason), retryable, degrade, peak, kind}};
}

Outcome completed(const RunEnd& e) {
  if (!e.result_problem.empty())
    return failed(e.result_problem, true, FailureKind::worker_failed, e.peak_bytes);
  return {Action::complete, {}};
}

// The input (or the choice of model) cannot be transcribed: retrying will not help.
Outcome user_error(const RunEnd& e) {
  const FailureKind kind =
      is_user_error(e.reported_kind) ? e.reported_kind : FailureKind::invalid_input;
  return failed(e.worker_error.empty() ? "the input cannot be transcribed" : e.worker_error, false,
                kind, e.peak_bytes);
}

Outcome oom_killed(const RunEnd& e) {
  // degrade rises by one per OOM kill, so it counts this job's earlier ones.
  const int kills = e.degrade + 1;
  std::string reason = fmt::format(
      "worker was killed by the kernel OOM killer {} time{} at a {} MiB limit", kills,
      kills == 1 ? "" : "s", to_mib(e.limit_bytes));
  if (e.attempt < e.max_attempts) reason += "; retrying with cheaper settings";
  // The peak of an OOM-killed run is the limit it hit; the next run reserves more.
  return failed(std::move(reason), true, FailureKind::oom_killed,
                std::max(e.peak_bytes, e.limit_bytes), true);
}

Outcome exited(const RunEnd& e, const worker::WorkerExit& x) {
  if (x.exit_code == worker::kExitOk) return completed(e);
  if (x.exit_code == worker::kExitInputError) return user_error(e);
  return failed(fmt::format("worker exited with code {}{}{}", x.exit_code,
                            e.worker_error.empty() ? "" : ": ", e.worker_error),
                true, FailureKind::worker_failed, e.peak_bytes);
}

// Stopped by us: cancelled, timed out, stalled, or given back (memory critical, shutdown).
Outcome stopped(const RunEnd& e, bool timed_out) {
  if (e.cancel) return {Action::cancel, {}};
  if (timed_out)
    // Retryable: a run slowed by a loaded host may fit the next time; max_attempts bounds the
    // cost of a job that never fits.
    return failed(fmt::format("timed out: the job ran longer than {} s (worker.timeout_ms)",
                              secs(e.worker_timeout)),
                  true, FailureKind::timed_out, e.peak_bytes);
  if (e.stalled)
    // Retryable: a stopped or hung process says nothing about the job; the next run is in a
    // fresh worker.
    return failed(fmt::format("stalled: the worker reported no progress for {} s "
                              "(worker.stall_timeout_ms) and was killed",
                              secs(e.stall_timeout)),
                  true, FailureKind::stalled, e.peak_bytes);
  return {Action::release, {}};
}

}  // namespace

Outcome decide_outcome(const RunEnd& e) {
  if (e.stale) return {Action::drop, {}};
  if (e.report == RunEnd::Report::done) return completed(e);
  if (e.report == RunEnd::Report::failed && is_user_error(e.reported_kind)) return user_error(e);
  if (!e.exit)  // the worker lives on but said nothing conclusive: cannot happen; retry
    return failed("the run ended without a result", true, FailureKind::internal, e.peak_bytes);
  const worker::WorkerExit& x = *e.exit;
  switch (x.kind) {
    case worker::ExitKind::exited: return exited(e, x);
    case worker::ExitKind::oom_killed: return oom_killed(e);
    case worker::ExitKind::crashed:
      return failed("worker crashed: " + x.detail, true, FailureKind::crashed, e.peak_bytes);
    case worker::ExitKind::timed_out:  // the supervisor's own timeout: a timeout all the same
    case worker::ExitKind::cancelled:
      return stopped(e, e.timed_out || x.kind == worker::ExitKind::timed_out);
  }
  return failed("unknown worker end", true, FailureKind::internal, e.peak_bytes);
}

}  // namespace soroka::service

// StoreHealth: whether the job store's writes commit, and the JobQueue wrapper that tells it.
#include "service/store_health.h"

#include <fmt/format.h>

#include "util/log.h"
#include "util/text.h"

namespace soroka::service {

void StoreHealth::record_failure(std::string_view op, std::string_view job, const Error& e) {
  bool first;
  {
    std::lock_guard lk(mu_);
    first = !degraded_;
    if (first) since_ = std::chrono::steady_clock::now();
    degraded_ = true;
    ++in_a_row_;
    ++total_;
    last_ = job.empty() ? fmt::format("{}: {}", op, e.message)
                        : fmt::format("{} of job {}: {}", op, job, e.message);
  }
  if (first)
    spdlog::error("event=store_degraded op={} job={} errno={} error=\"{}\"", op,
                  job.empty() ? "-" : job, e.code, log_escape(e.message));
}

void StoreHealth::record_success(std::string_view op) {
  std::uint64_t failed = 0;
  std::chrono::steady_clock::duration lasted{};
  {
    std::lock_guard lk(mu_);
    if (!degraded_) return;
    degraded_ = false;
    failed = in_a_row_;
    in_a_row_ = 0;
    lasted = std::chrono::steady_clock::now() - since_;
  }
  spdlog::info("event=store_recovered op={} failed_writes={} degraded_ms={}", op, failed,
               std::chrono::duration_cast<std::chrono::milliseconds>(lasted).count());
}

bool StoreHealth::healthy() const {
  std::lock_guard lk(mu_);
  return !degraded_;
}

std::string StoreHealth::reason() const {
  std::lock_guard lk(mu_);
  if (!degraded_) return {};
  const auto secs =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - since_);
  return fmt::format("job store writes fail since {} s ago ({} in a row); last: {}", secs.count(),
                     in_a_row_, last_);
}

std::uint64_t StoreHealth::failures_total() const {
  std::lock_guard lk(mu_);
  return total_;
}

void HealthCheckedQueue::note(std::string_view op, std::string_view job, const Error* error,
                              bool committed) {
  if (!error) {
    if (committed) health_.record_success(op);
    return;
  }
  if (!is_storage_error(error->code)) return;
  metrics_.store_errors.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("event=store_write_failed op={} job={} errno={} error=\"{}\"", op,
               job.empty() ? "-" : job, error->code, log_escape(error->message));
  health_.record_failure(op, job, *error);
}

Result<std::string> HealthCheckedQueue::submit(const jobs::JobSpec& spec) {
  auto r = inner_.submit(spec);
  note("submit", "", r ? nullptr : &r.error());
  return r;
}

Result<std::optional<jobs::Job>> HealthCheckedQueue::claim_next(
    const jobs::LeaseOwner& owner, std::chrono::milliseconds lease_for,
    const jobs::ClaimChooser& choose) {
  auto r = inner_.claim_next(owner, lease_for, choose);
  // An empty queue was only read.
  note("claim", "", r ? nullptr : &r.error(), r && r->has_value());
  return r;
}

Result<jobs::LeaseStatus> HealthCheckedQueue::heartbeat(std::string_view id,
                                                        const jobs::Lease& lease,
                                                        std::chrono::milliseconds lease_for) {
  auto r = inner_.heartbeat(id, lease, lease_for);
  note("heartbeat", id, r ? nullptr : &r.error());
  return r;
}

Result<jobs::LeaseStatus> HealthCheckedQueue::report_progress(std::string_view id,
                                                              const jobs::Lease& lease,
                                                              double progress) {
  auto r = inner_.report_progress(id, lease, progress);
  note("progress", id, r ? nullptr : &r.error());
  return r;
}

Result<void> HealthCheckedQueue::complete(std::string_view id, const jobs::Lease& lease,
                                          const jobs::Completion& c) {
  auto r = inner_.complete(id, lease, c);
  note("complete", id, r ? nullptr : &r.error());
  return r;
}

Result<jobs::JobState> HealthCheckedQueue::fail(std::string_view id, const jobs::Lease& lease,
                                                const jobs::Failure& f) {
  auto r = inner_.fail(id, lease, f);
  note("fail", id, r ? nullptr : &r.error());
  return r;
}

Result<void> HealthCheckedQueue::mark_cancelled(std::string_view id, const jobs::Lease& lease) {
  auto r = inner_.mark_cancelled(id, lease);
  note("mark_cancelled", id, r ? nullptr : &r.error());
  return r;
}

Result<void> HealthCheckedQueue::release(std::string_view id, const jobs::Lease& lease) {
  auto r = inner_.release(id, lease);
  note("release", id, r ? nullptr : &r.error());
  return r;
}

Result<jobs::JobState> HealthCheckedQueue::cancel(std::string_view id) {
  auto r = inner_.cancel(id);
  note("cancel", id, r ? nullptr : &r.error());
  return r;
}

Result<jobs::RecoverReport> HealthCheckedQueue::recover(jobs::TimeMs now,
                                                        const jobs::RecoverParams& p) {
  auto r = inner_.recover(now, p);
  // Nothing to recover is a read: it says nothing about whether writes commit.
  const bool wrote = r && (!r->requeued.empty() || !r->failed.empty() || !r->cancelled.empty());
  note("recover", "", r ? nullptr : &r.error(), wrote);
  return r;
}

Result<jobs::PurgeReport> HealthCheckedQueue::purge(jobs::TimeMs older_than) {
  auto r = inner_.purge(older_than);
  note("purge", "", r ? nullptr : &r.error(), r && r->jobs > 0);
  return r;
}

}  // namespace soroka::service

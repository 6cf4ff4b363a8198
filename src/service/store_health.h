// StoreHealth: whether the job store's writes commit, and the JobQueue wrapper that tells it.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "jobs/job_store.h"
#include "service/metrics.h"

namespace soroka::service {

// Whether a store error says the storage failed (disk full, I/O error, locked past the busy
// timeout) rather than that the request was wrong for the job's state (ENOENT: no such job,
// ESTALE: the lease moved on, EINVAL: a transition the state does not allow). Pure.
constexpr bool is_storage_error(int code) noexcept {
  return code != ENOENT && code != ESTALE && code != EINVAL && code != jobs::kQueueFull &&
         code != jobs::kSubmitterQuota;
}

// Degraded from the first write that fails for a storage reason until the next write that
// commits. While degraded, finished runs cannot be recorded and uploads cannot be queued:
// /healthz answers 503 with reason(). Thread-safe; every call is a mutex and a few words.
class StoreHealth {
 public:
  void record_failure(std::string_view op, std::string_view job, const Error& e);
  void record_success(std::string_view op);

  bool healthy() const;
  // "" while healthy, else e.g. "job store writes fail since 12 s ago (3 in a row); last:
  // complete of job 01J...: database or disk is full".
  std::string reason() const;
  std::uint64_t failures_total() const;

 private:
  mutable std::mutex mu_;
  bool degraded_ = false;
  std::chrono::steady_clock::time_point since_{};
  std::uint64_t in_a_row_ = 0, total_ = 0;
  std::string last_;
};

// A JobQueue that forwards to `inner` and reports every write: a storage failure is logged
// (event=store_write_failed op=... job=... errno=... error="..."), counted in
// metrics.store_errors and makes `health` degraded; a write that committed makes it healthy.
// Reads pass through untouched. Thread-safe as `inner` is.
class HealthCheckedQueue final : public jobs::JobQueue {
 public:
  HealthCheckedQueue(jobs::JobQueue& inner, StoreHealth& health, Metrics& metrics)
      : inner_(inner), health_(health), metrics_(metrics) {}

  Result<std::string> submit(const jobs::JobSpec& spec) override;
  Result<jobs::Job> get(std::string_view id) override { return inner_.get(id); }
  Result<std::vector<jobs::Job>> list(const jobs::ListFilter& f) override { return inner_.list(f); }
  Result<std::optional<jobs::Job>> claim_next(const jobs::LeaseOwner& owner,
                                              std::chrono::milliseconds lease_for,
                                              const jobs::ClaimChooser& choose = {}) override;
  Result<std::int64_t> queue_position(std::string_view id) override { return inner_.queue_position(id); }
  Result<jobs::LeaseStatus> heartbeat(std::string_view id, const jobs::Lease& lease,
                                      std::chrono::milliseconds lease_for) override;
  Result<jobs::LeaseStatus> report_progress(std::string_view id, const jobs::Lease& lease,
                                            double progress) override;
  Result<void> complete(std::string_view id, const jobs::Lease& lease,
                        const jobs::Completion& c) override;
  Result<jobs::JobState> fail(std::string_view id, const jobs::Lease& lease,
                              const jobs::Failure& f) override;
  Result<void> mark_cancelled(std::string_view id, const jobs::Lease& lease) override;
  Result<void> release(std::string_view id, const jobs::Lease& lease) override;
  Result<jobs::JobState> cancel(std::string_view id) override;
  Result<jobs::RecoverReport> recover(jobs::TimeMs now, const jobs::RecoverParams& p) override;
  Result<jobs::StateCounts> counts() override { return inner_.counts(); }
  Result<std::int64_t> queue_length() override { return inner_.queue_length(); }
  Result<jobs::PurgeReport> purge(jobs::TimeMs older_than) override;
  Result<jobs::FileReferences> file_references() override { return inner_.file_references(); }

 private:
  // Records a write's outcome: `error` null when it succeeded; `committed`: it wrote something
  // (a claim that found the queue empty did not).
  void note(std::string_view op, std::string_view job, const Error* error, bool committed = true);

  jobs::JobQueue& inner_;
  StoreHealth& health_;
  Metrics& metrics_;
};

}  // namespace soroka::service

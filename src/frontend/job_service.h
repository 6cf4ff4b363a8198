// JobService: what every front end (HTTP, the Telegram bot, later the CLI) does with jobs:
// submit a received file, watch a job, cancel it, read its result; owners are checked here.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "config/settings.h"
#include "frontend/rate_limiter.h"
#include "frontend/runner.h"
#include "jobs/job_store.h"
#include "oomguard/levels.h"
#include "service/job_params.h"
#include "service/metrics.h"
#include "service/probe_child.h"

namespace soroka::frontend {

// Why a request was not done. One list for every front end; each maps it to its own answer
// (an HTTP status, a bot's message). A failed job is not a refusal: its jobs::Job carries
// the state and the FailureKind.
enum class Refusal {
  shutting_down,      // the service is stopping
  memory_critical,    // memory is critically low right now
  degraded,           // a part is unwell (the store, the event loop)
  queue_full,         // jobs.max_queue jobs are waiting
  rate_limited,       // over the submitter's submissions a minute
  quota_exceeded,     // the submitter's jobs in flight or bytes stored
  invalid_input,      // the file is not readable media (damaged, truncated)
  unsupported_media,  // a format or codec we do not read
  probe_failed,       // the file could not be examined (the probe child failed): retry
  store_unavailable,  // the job store failed: retry
  not_found,          // no such job, or not the caller's (the two look the same)
  not_finished,       // result(): the job has not succeeded (yet)
  result_lost,        // result(): the job succeeded but its result cannot be read
};
std::string_view to_string(Refusal r) noexcept;

struct Refused {
  Refusal reason = Refusal::store_unavailable;
  std::string message;    // for the user, in a sentence
  int retry_after_s = 0;  // > 0: trying again after this long may succeed
};
template <class T>
using Outcome = std::expected<T, Refused>;

// Who asks. The submitter is the store's JobSpec::submitter, "<front end>:<user>".
struct Caller {
  std::string submitter;  // "http:<key id>", "tg:<chat id>": its jobs are the caller's own
  bool sees_all = false;  // a single-user service (HTTP without keys): every job is its own
};

// The queue's and a submitter's limits, from the Settings snapshot of the request.
struct Quotas {
  std::uint64_t max_queue = 0;               // jobs.max_queue
  std::int32_t max_attempts = 1;             // jobs.max_attempts
  std::uint64_t max_jobs = 0;                // queued or running per submitter; 0: no limit
  std::uint64_t submissions_per_minute = 0;  // 0: no limit
  std::uint64_t max_stored_bytes = 0;        // inputs kept per submitter; 0: no limit
  // Running at once per submitter (the scheduler passes over its other jobs); 0: no limit.
  // Not applied to a caller that sees_all (a single-user service).
  std::uint64_t max_running = 0;
};
Quotas quotas_from(const Settings& s);  // the server.key_* and jobs.* keys

// A file the front end has received and made durable (fsynced, file and directory) under the
// state dir's uploads/.
struct ReceivedFile {
  std::string path;
  std::string original_name;  // what the user calls it, validated
  std::uint64_t size_bytes = 0;
};

struct Submission {
  service::JobParams params;  // checked by the front end; duration_s comes from the probe
  ReceivedFile file;
  std::optional<std::string> dedup_key;  // a re-delivered request gets the first job's id
};

struct Submitted {
  std::string id;
  double duration_s = 0;
};

struct JobView {
  jobs::Job job;
  bool waiting_for_memory = false;  // claimed, its worker waits for the memory it reserves
  std::int64_t place = 0;           // queued: its place in line (1: next); 0 otherwise
};

// The state of the service a submission is admitted against (each may be empty: all well).
struct Conditions {
  std::function<bool()> accepting;                    // false once shutting down
  std::function<oomguard::Level()> level;             // the memory level now
  std::function<std::optional<std::string>()> issue;  // "store: <why>" while a part is unwell
};

// Examines an untrusted file (service::probe_in_child in production); an error: it could not.
using Probe = std::function<Result<service::ProbeOutcome>(const std::string& path)>;

struct JobServiceContext {
  jobs::JobQueue& store;
  Runner& runner;
  Probe probe;
  Conditions conditions;
  service::Metrics* metrics = nullptr;  // refusals are counted there; null: not counted
};

// Thread-safe; every call may block on the store (and submit() on the probe, seconds).
class JobService {
 public:
  explicit JobService(JobServiceContext ctx);

  // Before a front end receives a file (an upload, a download from Telegram): refused when the
  // service cannot take a job now, so nobody sends megabytes to be told no.
  std::optional<Refused> admit(const Quotas& q);
  // Queues a job on a received file: rate limit, probe (never in this process), then the
  // store's own queue and quota checks in one transaction. On success the job owns the file;
  // on a refusal the front end still does (and removes it).
  Outcome<Submitted> submit(const Caller& caller, Submission s, const Quotas& q);
  Outcome<JobView> get(const std::string& id, const Caller& caller);
  // Blocks until the job is finished or its state or progress differs from what the caller
  // last saw (`state`, `progress`), or until `timeout`; returns it as it is then. A bot's
  // progress messages: call again with what it returned.
  Outcome<JobView> watch(const std::string& id, const Caller& caller, jobs::JobState state,
                         double progress, std::chrono::milliseconds timeout);
  // Returns when some job finishes, or after `timeout`: for one thread watching many jobs.
  void wait_any_finished(std::chrono::milliseconds timeout);
  // Queued: cancelled now (its file removed). Running: its worker is stopped and the job ends
  // cancelled shortly. Finished: unchanged. Returns the state after the call; `why` is logged.
  Outcome<jobs::JobState> cancel(const std::string& id, const Caller& caller, std::string_view why);
  // The transcript of a succeeded job in `format`.
  Outcome<service::Rendered> result(const std::string& id, const Caller& caller,
                                    service::ResponseFormat format);
  // The same for a job already read (by get() or watch()).
  static Outcome<service::Rendered> render_result(const jobs::Job& job,
                                                  service::ResponseFormat format);

 private:
  Outcome<double> probe(const ReceivedFile& f);
  Outcome<void> probe_clips(const service::JobParams& params);
  Outcome<std::string> store_job(const Caller& caller, const Submission& s, const Quotas& q);
  Refused refuse(Refusal r, std::string message, int retry_after_s = 0);
  bool owns(const Caller& caller, const jobs::Job& job) const;

  JobServiceContext ctx_;
  RateLimiter rate_;
};

}  // namespace soroka::frontend

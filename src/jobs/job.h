// Job: one transcription request as the persistent queue records it, and its lease.
#pragma once

#include <cerrno>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.h"

namespace soroka::jobs {

// Wall-clock milliseconds since the Unix epoch: what the database stores, and comparable across
// processes and (with synchronised clocks) nodes, unlike steady_clock.
using TimeMs = std::chrono::sys_time<std::chrono::milliseconds>;
TimeMs now_ms();

// queued -> running -> succeeded | failed | cancelled; running -> queued on a retryable failure
// or when recover() finds the run interrupted; queued -> cancelled.
enum class JobState { queued, running, succeeded, failed, cancelled };
inline constexpr std::array kAllStates = {JobState::queued, JobState::running, JobState::succeeded,
                                          JobState::failed, JobState::cancelled};
const char* to_string(JobState s) noexcept;  // "queued", ... (also the database text)
std::optional<JobState> parse_state(std::string_view s) noexcept;
// succeeded, failed and cancelled never change again; purge() may delete them.
constexpr bool is_terminal(JobState s) noexcept {
  return s == JobState::succeeded || s == JobState::failed || s == JobState::cancelled;
}

// submit()'s refusals by a JobSpec's limits: answers, not storage failures. Codes no storage
// error maps to (SQLite's busy is EBUSY, a full disk ENOSPC, a filesystem quota EDQUOT).
inline constexpr int kQueueFull = ENOBUFS;
inline constexpr int kSubmitterQuota = EUSERS;

// What the submitter chooses. The store fills in everything else.
struct JobSpec {
  std::string kind = "transcribe";  // what to do; lets one queue carry several job types
  std::string params = "{}";        // engine/kind parameters, a JSON object as text
  std::string submitter;            // who asked ("http:<key>", "tg:<chat>"); list() filters on it
  // Set to make submit() idempotent: a second submit with the same key returns the first job's
  // id instead of queueing a duplicate (an HTTP client retrying, Telegram re-delivering).
  std::optional<std::string> dedup_key;
  std::string input_path;     // the uploaded file, inside the state dir
  std::string original_name;  // the name the user knows, for messages and output names
  std::uint64_t size_bytes = 0;
  std::int32_t priority = 0;      // higher runs first; equal priority runs oldest first
  std::int32_t max_attempts = 3;  // runs that may fail before the job fails for good (>= 1)
  std::uint64_t estimated_peak_bytes = 0;  // admission's estimate, 0 if unknown
  // Checked inside submit()'s transaction, so concurrent submits cannot overshoot (0: none):
  // kQueueFull when max_queued jobs are queued; kSubmitterQuota when this submitter already
  // has max_active_by_submitter jobs queued or running, or keeps max_bytes_by_submitter bytes
  // of inputs (this one included). Not applied to a dedup_key that is already present.
  std::int64_t max_queued = 0;
  std::int64_t max_active_by_submitter = 0;
  std::uint64_t max_bytes_by_submitter = 0;
  // The submitter is the job's owner: claim_next() with an owner chooser does not start this
  // job while that many of the owner's jobs run (the HTTP API's key, the bot's user). 0: none.
  std::int32_t max_running_per_owner = 0;
};

// Who holds a running job's lease: a process on a node. recover() asks whether it still lives.
struct LeaseOwner {
  std::string node;      // host name or configured node id
  std::int64_t pid = 0;  // the process that renews the lease
  bool operator==(const LeaseOwner&) const = default;
};
std::string to_string(const LeaseOwner& o);  // "node/pid"

// What a worker must show to heartbeat, report, complete or fail a job. `run` is the job's run
// number at claim time, a fencing token: a later claim of the same job (even by the same
// node/pid after pid reuse or a restart) has a larger number, so a stale worker's late call is
// rejected. That rejection is what makes completion exactly-once.
struct Lease {
  LeaseOwner owner;
  std::int32_t run = 0;
  bool operator==(const Lease&) const = default;
};

struct Job {
  std::string id;        // ULID-like: 26 Crockford base32 chars, time-ordered, never reused
  std::int64_t seq = 0;  // insertion order; the queue's tie-breaker for "oldest"
  JobSpec spec;
  JobState state = JobState::queued;

  std::int32_t attempts = 0;  // runs used up by failures (and, if configured, interruptions)
  std::int32_t degrade = 0;   // 0 = normal settings; +1 after each OOM kill
  std::int32_t runs = 0;      // times claimed; the current run's fencing token
  std::string last_error;     // why the latest run failed or was interrupted
  FailureKind failure_kind = FailureKind::none;  // ... as a kind: set in state failed only
  double progress = 0.0;      // 0..1 of the current run
  std::string result_text;    // the transcript, when small enough to keep inline
  std::string result_path;    // or the file it was written to, inside the state dir
  std::uint64_t observed_peak_bytes = 0;  // the largest peak any run reported

  TimeMs created_at{};
  std::optional<TimeMs> started_at;   // the latest run's claim
  std::optional<TimeMs> finished_at;  // set on entering a terminal state
  TimeMs updated_at{};

  // The latest run's lease holder; kept after the job finishes as a record of who ran it.
  std::optional<LeaseOwner> lease_owner;
  std::optional<TimeMs> lease_expires;  // only while running
  bool cancel_requested = false;        // cancel() on a running job; the runner stops it

  // The lease of the current run (meaningful while running).
  Lease lease() const { return Lease{lease_owner.value_or(LeaseOwner{}), runs}; }
};

// A fresh id for a job created at `now`: 48 bits of milliseconds then 80 random bits from
// getrandom(2), so ids sort by creation time and never repeat in practice.
Result<std::string> make_job_id(TimeMs now);
// The encoding itself, separated for tests.
std::string format_job_id(std::uint64_t unix_ms, const std::array<std::uint8_t, 10>& random);

}  // namespace soroka::jobs

// JobQueue: the persistent job queue's contract, and SqliteJobStore, its SQLite implementation.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jobs/job.h"
#include "util/result.h"

namespace soroka::jobs {

// ---- Parameters and results of the queue operations ----

struct ListFilter {
  std::vector<JobState> states;  // empty: any state
  std::string submitter;         // empty: anyone's
  std::size_t limit = 100;       // newest first
};

// What heartbeat() and report_progress() tell the worker back.
struct LeaseStatus {
  TimeMs expires{};
  bool cancel_requested = false;  // stop, then call mark_cancelled()
};

struct Completion {
  std::string result_text;                // the transcript inline, or
  std::string result_path;                // the file holding it (purge() returns it for deletion)
  std::uint64_t observed_peak_bytes = 0;  // the run's measured peak; 0 if not measured
};

struct Failure {
  std::string reason;      // for the user and the log: "worker OOM-killed at 1.4 GiB"
  bool retryable = false;  // re-queue while attempts remain (transient: OOM kill, ENOSPC...)
  bool degrade = false;    // re-queue with degrade+1 (cheaper settings): after an OOM kill
  std::uint64_t observed_peak_bytes = 0;
  // What kind of failure (front ends map it to answers). Stored as Job::failure_kind when the
  // job ends failed (none counts as internal); a re-queued or cancelled job keeps none.
  FailureKind kind = FailureKind::internal;
};

struct RecoverParams {
  // Does an interrupted run use up an attempt? Off by default: the service's own death
  // (kill -9, reboot) is not the job's fault. On, a job that keeps killing the whole service
  // eventually fails instead of looping.
  bool count_attempt = false;
  // Re-queue with degrade+1: for a caller that knows interruptions were OOM kills.
  bool degrade = false;
  // (A job that runs out of attempts here fails with FailureKind::internal: an interrupted run
  // says the service died, nothing about the user's input.)
  // Whether a lease holder still runs. Null: only expired leases count as interrupted. Holders
  // it reports gone are recovered even before their lease expires (start-up after a crash).
  // Called inside recover()'s write transaction: it must be quick (kill(pid, 0), not I/O).
  std::function<bool(const LeaseOwner&)> owner_alive;
};

struct RecoverReport {
  std::vector<std::string> requeued;
  std::vector<std::string> failed;     // out of attempts (count_attempt)
  std::vector<std::string> cancelled;  // cancel had been requested; no point re-running
};

struct StateCounts {
  std::array<std::int64_t, kAllStates.size()> by_state{};
  std::int64_t of(JobState s) const { return by_state[static_cast<std::size_t>(s)]; }
  std::int64_t total() const;
};

// A deleted job's files, for the caller to delete: exactly what it had, nothing guessed.
struct PurgedJob {
  std::string input_path, result_path;  // "" when it had none
  std::string params;                   // its JobSpec::params (what else it keeps beside its input)
};

struct PurgeReport {
  std::int64_t jobs = 0;         // rows deleted
  std::vector<PurgedJob> purged;  // one for each
};

// What the jobs on record point at in the state dir, for a sweep of files no job refers to.
struct FileReferences {
  std::vector<std::string> paths;  // every job's input_path and result_path that is set
  // Every job's id: a run writes its result as a file named after the job (and a partial one
  // beside it) before complete() records the path.
  std::vector<std::string> ids;
};

// A queued job as claim_next()'s chooser sees it, in queue order.
struct ClaimCandidate {
  std::int64_t seq = 0;
  std::string owner;  // its submitter
  std::int32_t max_running_per_owner = 0;
};
// Each owner (submitter) with running jobs, and how many it runs.
using RunningByOwner = std::map<std::string, std::int64_t, std::less<>>;
// Given one page of queued jobs in queue order and the running jobs per owner, the index of
// the job to claim, or nullopt to look at the next page (service/owner_limit.h decides).
using ClaimChooser = std::function<std::optional<std::size_t>(const std::vector<ClaimCandidate>&,
                                                              const RunningByOwner&)>;

// ---- The contract ----

// A persistent queue shared by every process (and later every node) of one service. Every
// operation is atomic: it happens completely or not at all, also when the calling process is
// SIGKILLed halfway. Errors are values; their errno says the class:
//   ENOENT  no job with that id
//   ESTALE  the lease is not (or no longer) the caller's: the job was recovered, re-queued or
//           re-claimed. The caller must drop its work; the job is or will be run again.
//   EINVAL  a bad argument (params not a JSON object, progress outside 0..1, ...) or a
//           transition the state does not allow
//   EBUSY   the database stayed locked past the busy timeout; retrying is safe
//   EPROTO  the database's schema is not one this build understands (at open)
//   other   I/O (ENOSPC, EIO, ...), from the storage
// A lease that has expired still counts until recover() takes the job away: until then no one
// else can hold it, so letting the late holder finish wastes nothing and breaks nothing.
// Implementations must be thread-safe.
class JobQueue {
 public:
  virtual ~JobQueue() = default;

  // Queues a new job and returns its fresh id; with a dedup_key already present, returns that
  // job's id and queues nothing.
  virtual Result<std::string> submit(const JobSpec& spec) = 0;
  virtual Result<Job> get(std::string_view id) = 0;
  virtual Result<std::vector<Job>> list(const ListFilter& filter) = 0;

  // Atomically takes the highest-priority, oldest queued job and marks it running under a
  // lease for `owner` that expires after `lease_for`. Of any number of concurrent claimers
  // (threads, processes, nodes) exactly one gets each job. nullopt: the queue is empty.
  // The returned job's lease() is what the other lease operations require.
  // With `choose`, the job claimed is the first it picks, page by page through the queue (a
  // job it passes over stays queued, in its place); nothing when it picks none.
  virtual Result<std::optional<Job>> claim_next(const LeaseOwner& owner,
                                                std::chrono::milliseconds lease_for,
                                                const ClaimChooser& choose = {}) = 0;
  // A queued job's place in line: 1 for the next to be claimed (by priority, then age);
  // 0 when the job is not queued. ENOENT: no such job.
  virtual Result<std::int64_t> queue_position(std::string_view id) = 0;
  // Extends the lease to now + lease_for.
  virtual Result<LeaseStatus> heartbeat(std::string_view id, const Lease& lease,
                                        std::chrono::milliseconds lease_for) = 0;
  // progress in 0..1; does not extend the lease.
  virtual Result<LeaseStatus> report_progress(std::string_view id, const Lease& lease,
                                              double progress) = 0;
  // running -> succeeded. Only the current lease holder succeeds; a stale one gets ESTALE.
  virtual Result<void> complete(std::string_view id, const Lease& lease, const Completion& c) = 0;
  // running -> queued (retryable, attempts left; degrade+1 if asked) or failed (not retryable,
  // or that was the last attempt: last_error says which attempt and why), or cancelled when
  // a cancel was requested meanwhile. Returns the new state.
  virtual Result<JobState> fail(std::string_view id, const Lease& lease, const Failure& f) = 0;
  // running -> cancelled, by the runner after it stopped a job whose cancel was requested
  // (EINVAL if none was).
  virtual Result<void> mark_cancelled(std::string_view id, const Lease& lease) = 0;
  // running -> queued without using up an attempt: the runner gives the job back unfinished
  // (graceful shutdown, draining a node).
  virtual Result<void> release(std::string_view id, const Lease& lease) = 0;

  // queued -> cancelled at once; running: sets cancel_requested, the runner learns it from
  // heartbeat()/report_progress() and stops. Finished jobs stay as they are. Returns the state
  // after the call (running means "requested").
  virtual Result<JobState> cancel(std::string_view id) = 0;

  // Running jobs whose lease expired at `now`, or whose holder owner_alive() reports gone,
  // go back to the queue (or to failed/cancelled, see RecoverReport). Run at start-up and
  // periodically: another node's crashed worker is noticed only through lease expiry.
  virtual Result<RecoverReport> recover(TimeMs now, const RecoverParams& params) = 0;

  virtual Result<StateCounts> counts() = 0;  // for metrics
  virtual Result<std::int64_t> queue_length() = 0;
  // Deletes finished jobs that finished before `older_than`; returns their files.
  virtual Result<PurgeReport> purge(TimeMs older_than) = 0;
  // The files and ids of every job on record, whatever its state (one consistent read).
  virtual Result<FileReferences> file_references() = 0;
};

// ---- SQLite ----

struct SqliteStoreParams {
  std::string path;  // database file; created (with its directory's WAL/SHM files) if missing
  // How long an operation waits for another connection's write lock. A write holds it for one
  // short transaction plus an fsync (~1-10 ms on SSD, tens on a busy HDD); 5 s rides out a
  // slow checkpoint or a stalled disk before reporting EBUSY.
  std::chrono::milliseconds busy_timeout{5000};
  // Time source for every operation but recover() (which takes `now`). Null: system clock.
  // Tests inject a fake one to expire leases without sleeping.
  std::function<TimeMs()> clock;
  // Fault-injection seam for tests: called inside each write transaction just before COMMIT
  // with the operation's name ("submit", "claim", ...). Null in production.
  std::function<void(std::string_view op)> before_commit;
};
SqliteStoreParams default_sqlite_params(std::string path);

// JobQueue on one SQLite file in WAL mode. Processes share the file; SQLite's file locks make
// claims exclusive across them, and BEGIN IMMEDIATE serialises writers.
//
// Thread safety: one connection per store, guarded by a mutex; every call is safe from any
// thread and calls are serialised. The queue's traffic (a few operations per job, jobs that
// run for minutes) is far below what one connection serves (100-270 claim+complete pairs/s
// measured, bound by the fsync per commit, not by the mutex), and SQLite admits one writer at
// a time anyway, so per-thread connections would add contention on the file, not throughput.
//
// fork(): a child must not use its parent's store, nor open one on the same file while the
// parent has one open: SQLite keeps per-process lock bookkeeping that the child inherits
// without the locks themselves. Worker processes report to their parent or exec() first.
class SqliteJobStore final : public JobQueue {
 public:
  // Opens or creates the database, sets WAL and synchronous=FULL, migrates the schema.
  static Result<std::unique_ptr<SqliteJobStore>> open(SqliteStoreParams params);
  ~SqliteJobStore() override;
  SqliteJobStore(const SqliteJobStore&) = delete;
  SqliteJobStore& operator=(const SqliteJobStore&) = delete;

  Result<std::string> submit(const JobSpec& spec) override;
  Result<Job> get(std::string_view id) override;
  Result<std::vector<Job>> list(const ListFilter& filter) override;
  Result<std::optional<Job>> claim_next(const LeaseOwner& owner,
                                        std::chrono::milliseconds lease_for,
                                        const ClaimChooser& choose = {}) override;
  Result<std::int64_t> queue_position(std::string_view id) override;
  Result<LeaseStatus> heartbeat(std::string_view id, const Lease& lease,
                                std::chrono::milliseconds lease_for) override;
  Result<LeaseStatus> report_progress(std::string_view id, const Lease& lease,
                                      double progress) override;
  Result<void> complete(std::string_view id, const Lease& lease, const Completion& c) override;
  Result<JobState> fail(std::string_view id, const Lease& lease, const Failure& f) override;
  Result<void> mark_cancelled(std::string_view id, const Lease& lease) override;
  Result<void> release(std::string_view id, const Lease& lease) override;
  Result<JobState> cancel(std::string_view id) override;
  Result<RecoverReport> recover(TimeMs now, const RecoverParams& params) override;
  Result<StateCounts> counts() override;
  Result<std::int64_t> queue_length() override;
  Result<PurgeReport> purge(TimeMs older_than) override;
  Result<FileReferences> file_references() override;

  // PRAGMA integrity_check == "ok"; for tests and `soroka doctor`-style checks.
  Result<bool> integrity_ok();
  const std::string& path() const noexcept;

 private:
  struct Impl;
  explicit SqliteJobStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Whether process `pid` exists on this host (kill(pid, 0); EPERM counts as alive). A zombie
// counts as alive until its parent reaps it.
bool process_alive(std::int64_t pid) noexcept;
// An owner_alive for RecoverParams: holders on `this_node` are alive iff process_alive(pid);
// holders on other nodes are assumed alive (their leases expire if not).
std::function<bool(const LeaseOwner&)> local_owner_alive(std::string this_node);

}  // namespace soroka::jobs

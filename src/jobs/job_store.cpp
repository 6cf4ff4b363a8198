// SqliteJobStore: the job queue's state machine as SQLite transactions on one shared file.
#include "jobs/job_store.h"

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <limits>
#include <mutex>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "jobs/schema.h"
#include "jobs/sqlite_db.h"

namespace soroka::jobs {

namespace {

using sqlite::Connection;
using sqlite::Query;
using sqlite::Transaction;

// ---- Row <-> Job ----

// The column list every job-returning query selects, in the order of Col.
constexpr std::string_view kColumns =
    "seq, id, state, kind, params, submitter, dedup_key, input_path, original_name, size_bytes, "
    "priority, attempts, max_attempts, degrade, runs, last_error, progress, result_text, "
    "result_path, estimated_peak_bytes, observed_peak_bytes, created_at, started_at, "
    "finished_at, updated_at, lease_node, lease_pid, lease_expires_at, cancel_requested, "
    "failure_kind, max_running_per_owner";
enum Col : int {
  kSeq,
  kId,
  kState,
  kKind,
  kParams,
  kSubmitter,
  kDedupKey,
  kInputPath,
  kOriginalName,
  kSizeBytes,
  kPriority,
  kAttempts,
  kMaxAttempts,
  kDegrade,
  kRuns,
  kLastError,
  kProgress,
  kResultText,
  kResultPath,
  kEstimatedPeak,
  kObservedPeak,
  kCreatedAt,
  kStartedAt,
  kFinishedAt,
  kUpdatedAt,
  kLeaseNode,
  kLeasePid,
  kLeaseExpires,
  kCancelRequested,
  kFailureKind,
  kMaxRunningPerOwner
};

std::string select_jobs(std::string_view rest) {
  std::string sql = "SELECT ";
  sql += kColumns;
  sql += " FROM jobs ";
  sql += rest;
  return sql;
}

std::int64_t db_time(TimeMs t) {
  return t.time_since_epoch().count();
}
TimeMs from_db_time(std::int64_t v) {
  return TimeMs(std::chrono::milliseconds(v));
}
std::optional<TimeMs> opt_time(const Query& q, int col) {
  if (q.is_null(col)) return std::nullopt;
  return from_db_time(q.i64(col));
}
// SQLite integers are signed 64-bit; counts beyond 2^63 (8 EiB) saturate rather than wrap.
std::int64_t db_u64(std::uint64_t v) {
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(std::min(v, kMax));
}
std::uint64_t from_db_u64(std::int64_t v) {
  return v < 0 ? 0 : static_cast<std::uint64_t>(v);
}
std::int32_t db_i32(std::int64_t v) {
  return static_cast<std::int32_t>(std::clamp<std::int64_t>(
      v, std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::max()));
}

Job read_job(const Query& q) {
  Job j;
  j.seq = q.i64(kSeq);
  j.id = q.text(kId);
  j.state = parse_state(q.text(kState)).value_or(JobState::failed);  // CHECK rules out others
  j.spec.kind = q.text(kKind);
  j.spec.params = q.text(kParams);
  j.spec.submitter = q.text(kSubmitter);
  if (!q.is_null(kDedupKey)) j.spec.dedup_key = q.text(kDedupKey);
  j.spec.input_path = q.text(kInputPath);
  j.spec.original_name = q.text(kOriginalName);
  j.spec.size_bytes = from_db_u64(q.i64(kSizeBytes));
  j.spec.priority = db_i32(q.i64(kPriority));
  j.spec.max_attempts = db_i32(q.i64(kMaxAttempts));
  j.spec.estimated_peak_bytes = from_db_u64(q.i64(kEstimatedPeak));
  j.spec.max_running_per_owner = db_i32(q.i64(kMaxRunningPerOwner));
  j.attempts = db_i32(q.i64(kAttempts));
  j.degrade = db_i32(q.i64(kDegrade));
  j.runs = db_i32(q.i64(kRuns));
  j.last_error = q.text(kLastError);
  j.progress = q.f64(kProgress);
  j.result_text = q.text(kResultText);
  j.result_path = q.text(kResultPath);
  j.observed_peak_bytes = from_db_u64(q.i64(kObservedPeak));
  j.created_at = from_db_time(q.i64(kCreatedAt));
  j.started_at = opt_time(q, kStartedAt);
  j.finished_at = opt_time(q, kFinishedAt);
  j.updated_at = from_db_time(q.i64(kUpdatedAt));
  if (!q.is_null(kLeaseNode)) j.lease_owner = LeaseOwner{q.text(kLeaseNode), q.i64(kLeasePid)};
  j.lease_expires = opt_time(q, kLeaseExpires);
  j.cancel_requested = q.i64(kCancelRequested) != 0;
  // A name this build does not know (written by a newer one) is still a failure.
  j.failure_kind = parse_failure_kind(q.text(kFailureKind)).value_or(FailureKind::internal);
  return j;
}

// Moves an error out of any Result into one of another type.
template <class R>
std::unexpected<Error> err(R&& r) {
  return std::unexpected<Error>(std::move(r.error()));
}
template <class R>
std::unexpected<Error> err(R&& r, std::string_view ctx) {
  return std::unexpected<Error>(std::move(r.error()).with_context(ctx));
}

// Steps a query expected to yield at most one job; the query is reset on return.
Result<std::optional<Job>> one_job(Result<Query>& q) {
  if (!q) return err(q);
  auto row = q->step();
  if (!row) return err(row);
  if (!*row) return std::optional<Job>{};
  Job j = read_job(*q);
  // Drain to completion: a write statement with RETURNING must finish before COMMIT.
  if (auto rest = q->run(); !rest) return err(rest);
  return std::optional<Job>(std::move(j));
}

// What the lease operations need to know about a job, read inside their transaction.
struct LeaseRow {
  std::int64_t seq = 0;
  JobState state = JobState::queued;
  std::optional<LeaseOwner> owner;
  std::int32_t runs = 0, attempts = 0, max_attempts = 1, degrade = 0;
  bool cancel_requested = false;
};

Result<std::optional<LeaseRow>> load_lease_row(Connection& c, std::string_view id) {
  auto q = c.query(
      "SELECT seq, state, lease_node, lease_pid, runs, attempts, max_attempts, degrade, "
      "cancel_requested FROM jobs WHERE id = ?1");
  if (!q) return err(q);
  q->bind(1, id);
  auto row = q->step();
  if (!row) return err(row);
  if (!*row) return std::optional<LeaseRow>{};
  LeaseRow r;
  r.seq = q->i64(0);
  r.state = parse_state(q->text(1)).value_or(JobState::failed);
  if (!q->is_null(2)) r.owner = LeaseOwner{q->text(2), q->i64(3)};
  r.runs = db_i32(q->i64(4));
  r.attempts = db_i32(q->i64(5));
  r.max_attempts = db_i32(q->i64(6));
  r.degrade = db_i32(q->i64(7));
  r.cancel_requested = q->i64(8) != 0;
  return std::optional<LeaseRow>(std::move(r));
}

// The job's row if `lease` is its current one; ENOENT / ESTALE otherwise. The ESTALE message
// says what happened to the job instead, for the worker's log.
Result<LeaseRow> check_lease(Connection& c, std::string_view id, const Lease& lease) {
  auto row = load_lease_row(c, id);
  if (!row) return err(row);
  if (!*row) return soroka::fail("no job " + std::string(id), ENOENT);
  LeaseRow& r = **row;
  if (r.state == JobState::running && r.owner == lease.owner && r.runs == lease.run) {
    return std::move(r);
  }
  std::string now_is = to_string(r.state);
  if (r.state == JobState::running && r.owner) {
    now_is += " as run " + std::to_string(r.runs) + " by " + to_string(*r.owner);
  }
  return soroka::fail("job " + std::string(id) + ": run " + std::to_string(lease.run) + " by " +
                          to_string(lease.owner) + " no longer holds the lease (the job is " +
                          now_is + ")",
                      ESTALE);
}

std::string attempt_text(std::int32_t attempt, std::int32_t max_attempts) {
  return "attempt " + std::to_string(attempt) + "/" + std::to_string(max_attempts);
}

// Shared by fail() and recover(): where a running job goes when its run ends without success.
// The failure kind is kept only when the job ends failed; a re-queued or cancelled job has none
// (Job::failure_kind is "none while it has not failed"), and a failure nobody classified is
// internal, so a failed job always carries a kind.
struct Outcome {
  JobState state;
  std::int32_t attempts;
  std::int32_t degrade;
  std::string last_error;
  FailureKind kind = FailureKind::none;
};
Outcome after_failed_run(const LeaseRow& r, std::string_view why, bool retryable,
                         bool count_attempt, bool degrade, FailureKind kind) {
  const std::int32_t attempts = r.attempts + (count_attempt ? 1 : 0);
  kind = classified(kind);
  if (r.cancel_requested) {
    return {JobState::cancelled, attempts, r.degrade,
            "cancelled; the run ended with: " + std::string(why)};
  }
  if (!retryable) {
    return {JobState::failed, attempts, r.degrade,
            attempt_text(attempts, r.max_attempts) + " failed: " + std::string(why), kind};
  }
  if (attempts >= r.max_attempts) {
    return {JobState::failed, attempts, r.degrade,
            "gave up after " + std::to_string(attempts) + " attempts; last: " + std::string(why),
            kind};
  }
  return {JobState::queued, attempts, r.degrade + (degrade ? 1 : 0),
          attempt_text(attempts, r.max_attempts) + " failed: " + std::string(why)};
}

// Applies an Outcome to the job at `seq`: re-queued jobs drop their lease and progress,
// finished ones keep the lease holder as a record and get their finish time.
Result<void> apply_outcome(Connection& c, std::int64_t seq, const Outcome& o, TimeMs now,
                           std::uint64_t observed_peak) {
  auto q = c.query(
      "UPDATE jobs SET state = ?2, attempts = ?3, degrade = ?4, last_error = ?5, "
      "updated_at = ?6, lease_expires_at = NULL, "
      "observed_peak_bytes = max(observed_peak_bytes, ?7), "
      "finished_at = CASE WHEN ?2 = 'queued' THEN NULL ELSE ?6 END, "
      "progress = CASE WHEN ?2 = 'queued' THEN 0 ELSE progress END, "
      "lease_node = CASE WHEN ?2 = 'queued' THEN NULL ELSE lease_node END, "
      "lease_pid = CASE WHEN ?2 = 'queued' THEN NULL ELSE lease_pid END, "
      "failure_kind = ?8 "
      "WHERE seq = ?1");
  if (!q) return err(q);
  q->bind(1, seq)
      .bind(2, to_string(o.state))
      .bind(3, std::int64_t{o.attempts})
      .bind(4, std::int64_t{o.degrade})
      .bind(5, o.last_error)
      .bind(6, db_time(now))
      .bind(7, db_u64(observed_peak))
      .bind(8, to_string(o.kind));
  return q->run();
}

// Opening a fresh file from several processes at once: switching it to WAL needs a moment of
// exclusive access and may report SQLITE_BUSY without consulting the busy handler, so retry
// until the busy timeout.
Result<void> enable_wal(Connection& c, std::chrono::milliseconds busy_timeout) {
  const auto deadline = std::chrono::steady_clock::now() + busy_timeout;
  for (;;) {
    auto q = c.query("PRAGMA journal_mode = WAL");
    if (!q) return err(q);
    auto row = q->step();
    if (row && *row) {
      const std::string mode = q->text(0);
      if (mode == "wal") return {};
      // SQLite answers with the old mode when the file system cannot do WAL (no shared memory).
      return soroka::fail("the database cannot use WAL (journal mode stays '" + mode + "')", EIO);
    }
    if (row) return soroka::fail("PRAGMA journal_mode returned no row", EIO);
    if (row.error().code != EBUSY || std::chrono::steady_clock::now() > deadline) return err(row);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

// ---- SqliteJobStore ----

struct SqliteJobStore::Impl {
  SqliteStoreParams params;
  std::mutex mu;  // serialises every use of `conn` (see the class comment)
  Connection conn;

  Impl(SqliteStoreParams p, Connection c) : params(std::move(p)), conn(std::move(c)) {}

  TimeMs now() const { return params.clock ? params.clock() : now_ms(); }

  Result<void> commit(Transaction& txn, std::string_view op) {
    if (params.before_commit) params.before_commit(op);
    return txn.commit();
  }

  // The frame of every operation by a lease holder: under the mutex, one write transaction in
  // which the lease is checked (ENOENT / ESTALE, with `ctx`) and then `body(conn, row, now)`
  // writes.
  // Committed as `op` when the body succeeds; its error (which carries its own context) rolls
  // the transaction back. Checked and written under one write lock: of a stale and a current
  // worker (or a worker and recover()), exactly one transition out of a run can happen.
  template <class T, class Body>
  Result<T> under_lease(std::string_view id, const Lease& lease, std::string_view op,
                        const std::string& ctx, Body&& body) {
    std::lock_guard lock(mu);
    const TimeMs t = now();
    auto txn = Transaction::begin(conn);
    if (!txn) return err(txn, ctx);
    auto row = check_lease(conn, id, lease);
    if (!row) return err(row, ctx);
    Result<T> out = body(conn, *row, t);
    if (!out) return out;
    if (auto r = commit(*txn, op); !r) return err(r, ctx);
    return out;
  }
};

SqliteStoreParams default_sqlite_params(std::string path) {
  SqliteStoreParams p;
  p.path = std::move(path);
  return p;
}

SqliteJobStore::SqliteJobStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteJobStore::~SqliteJobStore() = default;

const std::string& SqliteJobStore::path() const noexcept {
  return impl_->params.path;
}

Result<std::unique_ptr<SqliteJobStore>> SqliteJobStore::open(SqliteStoreParams params) {
  const std::string ctx = "opening job store " + params.path;
  auto conn = Connection::open(params.path, params.busy_timeout);
  if (!conn) return err(conn, ctx);
  // WAL: readers (list, get, metrics) never block the writer and the writer never blocks
  // them; a commit appends to the log instead of rewriting pages in place.
  if (auto r = enable_wal(*conn, params.busy_timeout); !r) return err(r, ctx);
  // synchronous=FULL: fsync the WAL at every commit. In WAL mode NORMAL already survives the
  // process dying (kill -9, the OOM killer: committed pages sit in the kernel's cache), but on
  // power loss or a kernel crash it loses the last commits, so a job the API had accepted
  // could vanish or a completed one run again, breaking "every accepted job finishes exactly
  // once". The cost is one fsync per operation; a job makes about ten writes (submit, claim,
  // heartbeats, complete) over minutes of transcription, so it never shows. The test suite's
  // claim rate (see job_store_test.cpp, ClaimThroughput) measures it.
  if (auto r = conn->exec("PRAGMA synchronous = FULL"); !r) return err(r, ctx);
  if (auto r = schema::migrate(*conn); !r) return err(r, ctx);
  auto impl = std::make_unique<Impl>(std::move(params), std::move(*conn));
  return std::unique_ptr<SqliteJobStore>(new SqliteJobStore(std::move(impl)));
}

namespace {

// The queue and submitter limits of a JobSpec, read in the submitting transaction.
Result<void> check_quota(Connection& c, const JobSpec& spec) {
  auto scalar = [&](const char* sql, bool by_submitter) -> Result<std::int64_t> {
    auto q = c.query(sql);
    if (!q) return err(q, "checking limits");
    if (by_submitter) q->bind(1, spec.submitter);
    auto row = q->step();
    if (!row) return err(row, "checking limits");
    return *row ? q->i64(0) : 0;
  };
  if (spec.max_queued > 0) {
    auto n = scalar("SELECT count(*) FROM jobs WHERE state = 'queued'", false);
    if (!n) return std::unexpected(n.error());
    if (*n >= spec.max_queued)
      return soroka::fail("the queue is full (" + std::to_string(*n) + " jobs waiting)", kQueueFull);
  }
  if (spec.max_active_by_submitter > 0) {
    auto n = scalar("SELECT count(*) FROM jobs WHERE submitter = ?1 AND state IN ('queued', 'running')", true);
    if (!n) return std::unexpected(n.error());
    if (*n >= spec.max_active_by_submitter)
      return soroka::fail("you have " + std::to_string(*n) + " jobs queued or running (the limit per key)",
                          kSubmitterQuota);
  }
  if (spec.max_bytes_by_submitter > 0) {
    auto n = scalar("SELECT coalesce(sum(size_bytes), 0) FROM jobs WHERE submitter = ?1", true);
    if (!n) return std::unexpected(n.error());
    if (static_cast<std::uint64_t>(*n) + spec.size_bytes > spec.max_bytes_by_submitter)
      return soroka::fail("your stored files would exceed " + std::to_string(spec.max_bytes_by_submitter) +
                              " bytes (the limit per key); delete finished jobs or wait for retention",
                          kSubmitterQuota);
  }
  return {};
}

}  // namespace

Result<std::string> SqliteJobStore::submit(const JobSpec& spec) {
  if (spec.max_attempts < 1) return soroka::fail("max_attempts must be at least 1", EINVAL);
  const std::string params = spec.params.empty() ? std::string("{}") : spec.params;
  // allow_exceptions=false: a malformed blob is a value, not a throw across the API.
  const auto parsed = nlohmann::json::parse(params, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return soroka::fail("job params must be a JSON object", EINVAL);
  }

  std::lock_guard lock(impl_->mu);
  Connection& c = impl_->conn;
  const TimeMs now = impl_->now();
  auto txn = Transaction::begin(c);
  if (!txn) return err(txn, "submitting a job");
  if (spec.dedup_key) {
    auto q = c.query("SELECT id FROM jobs WHERE dedup_key = ?1");
    if (!q) return err(q);
    q->bind(1, *spec.dedup_key);
    auto row = q->step();
    if (!row) return err(row, "submitting a job");
    if (*row) return q->text(0);  // already queued once; the transaction just ends
  }
  if (auto r = check_quota(c, spec); !r) return std::unexpected(r.error());
  auto id = make_job_id(now);
  if (!id) return err(id, "submitting a job");
  auto q = c.query(
      "INSERT INTO jobs (id, state, kind, params, submitter, dedup_key, input_path, "
      "original_name, size_bytes, priority, max_attempts, estimated_peak_bytes, created_at, "
      "updated_at, max_running_per_owner) "
      "VALUES (?1, 'queued', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13)");
  if (!q) return err(q);
  q->bind(1, *id)
      .bind(2, spec.kind)
      .bind(3, params)
      .bind(4, spec.submitter)
      .bind(5, spec.dedup_key)
      .bind(6, spec.input_path)
      .bind(7, spec.original_name)
      .bind(8, db_u64(spec.size_bytes))
      .bind(9, std::int64_t{spec.priority})
      .bind(10, std::int64_t{spec.max_attempts})
      .bind(11, db_u64(spec.estimated_peak_bytes))
      .bind(12, db_time(now))
      .bind(13, std::int64_t{std::max(0, spec.max_running_per_owner)});
  if (auto r = q->run(); !r) return err(r, "submitting a job");
  if (auto r = impl_->commit(*txn, "submit"); !r) return err(r, "submitting a job");
  return std::move(*id);
}

Result<Job> SqliteJobStore::get(std::string_view id) {
  std::lock_guard lock(impl_->mu);
  auto q = impl_->conn.query(select_jobs("WHERE id = ?1"));
  if (q) q->bind(1, id);
  auto job = one_job(q);
  if (!job) return err(job, "reading job " + std::string(id));
  if (!*job) return soroka::fail("no job " + std::string(id), ENOENT);
  return std::move(**job);
}

Result<std::vector<Job>> SqliteJobStore::list(const ListFilter& filter) {
  // One statement shape per filter shape; the cache keeps each prepared.
  std::string where = "WHERE 1";
  int n = 0;
  if (!filter.states.empty()) {
    where += " AND state IN (";
    for (std::size_t i = 0; i < filter.states.size(); ++i) {
      where += (i ? ", ?" : "?") + std::to_string(++n);
    }
    where += ")";
  }
  if (!filter.submitter.empty()) where += " AND submitter = ?" + std::to_string(++n);
  where += " ORDER BY seq DESC LIMIT ?" + std::to_string(++n);

  std::lock_guard lock(impl_->mu);
  auto q = impl_->conn.query(select_jobs(where));
  if (!q) return err(q, "listing jobs");
  int i = 0;
  for (JobState s : filter.states) q->bind(++i, to_string(s));
  if (!filter.submitter.empty()) q->bind(++i, filter.submitter);
  q->bind(++i, db_u64(filter.limit));
  std::vector<Job> jobs;
  for (;;) {
    auto row = q->step();
    if (!row) return err(row, "listing jobs");
    if (!*row) break;
    jobs.push_back(read_job(*q));
  }
  return jobs;
}

namespace {

// The queue's head: the highest priority, then the oldest. nullopt: the queue is empty.
Result<std::optional<std::int64_t>> head_seq(Connection& c) {
  auto q = c.query("SELECT seq FROM jobs WHERE state = 'queued' ORDER BY priority DESC, seq LIMIT 1");
  if (!q) return err(q);
  auto row = q->step();
  if (!row) return err(row);
  return *row ? std::optional(q->i64(0)) : std::nullopt;
}

Result<RunningByOwner> running_by_owner(Connection& c) {
  auto q = c.query("SELECT submitter, count(*) FROM jobs WHERE state = 'running' GROUP BY submitter");
  if (!q) return err(q);
  RunningByOwner out;
  for (;;) {
    auto row = q->step();
    if (!row) return err(row);
    if (!*row) return out;
    out.emplace(q->text(0), q->i64(1));
  }
}

// The queue page by page (keyset on priority, seq), until `choose` picks one. A page of 64
// keeps each read small; the whole walk is bounded by the queue's length (jobs.max_queue).
Result<std::optional<std::int64_t>> chosen_seq(Connection& c, const ClaimChooser& choose) {
  constexpr std::int64_t kPage = 64;
  auto running = running_by_owner(c);
  if (!running) return std::unexpected(running.error());
  std::int64_t after_priority = std::numeric_limits<std::int64_t>::max(), after_seq = -1;
  for (;;) {
    auto q = c.query(
        "SELECT seq, submitter, max_running_per_owner, priority FROM jobs WHERE state = 'queued' "
        "AND (priority < ?1 OR (priority = ?1 AND seq > ?2)) ORDER BY priority DESC, seq LIMIT ?3");
    if (!q) return err(q);
    q->bind(1, after_priority).bind(2, after_seq).bind(3, kPage);
    std::vector<ClaimCandidate> page;
    for (;;) {
      auto row = q->step();
      if (!row) return err(row);
      if (!*row) break;
      page.push_back({q->i64(0), q->text(1), db_i32(q->i64(2))});
      after_priority = q->i64(3);
      after_seq = q->i64(0);
    }
    if (page.empty()) return std::optional<std::int64_t>{};
    if (auto i = choose(page, *running); i && *i < page.size()) return std::optional(page[*i].seq);
    if (static_cast<std::int64_t>(page.size()) < kPage) return std::optional<std::int64_t>{};
  }
}

}  // namespace

Result<std::optional<Job>> SqliteJobStore::claim_next(const LeaseOwner& owner,
                                                      std::chrono::milliseconds lease_for,
                                                      const ClaimChooser& choose) {
  // recover() decides liveness from node and pid; a claim without them could never be judged.
  if (owner.node.empty() || owner.pid <= 0) {
    return soroka::fail("a lease owner needs a node and a pid", EINVAL);
  }
  std::lock_guard lock(impl_->mu);
  Connection& c = impl_->conn;
  const TimeMs now = impl_->now();
  {
    // Idle workers poll: answer "empty" from a read, without queueing for the write lock
    // behind busy writers. A job submitted just after is seen by the next poll.
    auto any = c.query("SELECT 1 FROM jobs WHERE state = 'queued' LIMIT 1");
    if (!any) return err(any, "claiming a job");
    auto row = any->step();
    if (!row) return err(row, "claiming a job");
    if (!*row) return std::optional<Job>{};
  }
  // The write lock is taken before the queue head is read, so no other claimer (thread,
  // process or node on this file) can read the same head until this transaction ends.
  auto txn = Transaction::begin(c);
  if (!txn) return err(txn, "claiming a job");
  auto seq = choose ? chosen_seq(c, choose) : head_seq(c);
  if (!seq) return err(seq, "claiming a job");
  if (!*seq) return std::optional<Job>{};  // nothing to claim; the transaction just ends
  auto q = c.query(
      "UPDATE jobs SET state = 'running', runs = runs + 1, lease_node = ?1, lease_pid = ?2, "
      "lease_expires_at = ?3, started_at = ?4, updated_at = ?4, progress = 0 "
      "WHERE seq = ?5 AND state = 'queued' RETURNING " +
      std::string(kColumns));
  if (q) {
    q->bind(1, owner.node)
        .bind(2, owner.pid)
        .bind(3, db_time(now + lease_for))
        .bind(4, db_time(now))
        .bind(5, **seq);
  }
  auto job = one_job(q);
  if (!job) return err(job, "claiming a job");
  if (!*job) return std::move(*job);
  if (auto r = impl_->commit(*txn, "claim"); !r) return err(r, "claiming a job");
  return std::move(*job);
}

Result<std::int64_t> SqliteJobStore::queue_position(std::string_view id) {
  std::lock_guard lock(impl_->mu);
  auto q = impl_->conn.query(
      "SELECT j.state = 'queued', (SELECT count(*) FROM jobs o WHERE o.state = 'queued' AND "
      "(o.priority > j.priority OR (o.priority = j.priority AND o.seq < j.seq))) "
      "FROM jobs j WHERE j.id = ?1");
  if (!q) return err(q, "reading a job's place in line");
  q->bind(1, id);
  auto row = q->step();
  if (!row) return err(row, "reading a job's place in line");
  if (!*row) return soroka::fail("no job " + std::string(id), ENOENT);
  return q->i64(0) != 0 ? q->i64(1) + 1 : 0;
}

Result<LeaseStatus> SqliteJobStore::heartbeat(std::string_view id, const Lease& lease,
                                              std::chrono::milliseconds lease_for) {
  const std::string ctx = "renewing the lease of job " + std::string(id);
  return impl_->under_lease<LeaseStatus>(
      id, lease, "heartbeat", ctx,
      [&](Connection& c, const LeaseRow& row, TimeMs now) -> Result<LeaseStatus> {
        auto q = c.query("UPDATE jobs SET lease_expires_at = ?2, updated_at = ?3 WHERE seq = ?1");
        if (!q) return err(q, ctx);
        q->bind(1, row.seq).bind(2, db_time(now + lease_for)).bind(3, db_time(now));
        if (auto r = q->run(); !r) return err(r, ctx);
        return LeaseStatus{now + lease_for, row.cancel_requested};
      });
}

Result<LeaseStatus> SqliteJobStore::report_progress(std::string_view id, const Lease& lease,
                                                    double progress) {
  const std::string ctx = "reporting progress of job " + std::string(id);
  if (!(progress >= 0.0 && progress <= 1.0)) {  // written so that NaN fails too
    return soroka::fail(ctx + ": progress must be within 0..1", EINVAL);
  }
  return impl_->under_lease<LeaseStatus>(
      id, lease, "progress", ctx,
      [&](Connection& c, const LeaseRow& row, TimeMs now) -> Result<LeaseStatus> {
        auto q = c.query(
            "UPDATE jobs SET progress = ?2, updated_at = ?3 WHERE seq = ?1 "
            "RETURNING lease_expires_at");
        if (!q) return err(q, ctx);
        q->bind(1, row.seq).bind(2, progress).bind(3, db_time(now));
        auto ret = q->step();
        if (!ret) return err(ret, ctx);
        const TimeMs expires = *ret ? from_db_time(q->i64(0)) : now;
        if (auto r = q->run(); !r) return err(r, ctx);
        return LeaseStatus{expires, row.cancel_requested};
      });
}

Result<void> SqliteJobStore::complete(std::string_view id, const Lease& lease,
                                      const Completion& done) {
  const std::string ctx = "completing job " + std::string(id);
  return impl_->under_lease<void>(
      id, lease, "complete", ctx,
      [&](Connection& c, const LeaseRow& row, TimeMs now) -> Result<void> {
        auto q = c.query(
            "UPDATE jobs SET state = 'succeeded', progress = 1, result_text = ?2, "
            "result_path = ?3, observed_peak_bytes = max(observed_peak_bytes, ?4), "
            "finished_at = ?5, updated_at = ?5, lease_expires_at = NULL, failure_kind = 'none' "
            "WHERE seq = ?1");
        if (!q) return err(q, ctx);
        q->bind(1, row.seq)
            .bind(2, done.result_text)
            .bind(3, done.result_path)
            .bind(4, db_u64(done.observed_peak_bytes))
            .bind(5, db_time(now));
        if (auto r = q->run(); !r) return err(r, ctx);
        return {};
      });
}

Result<JobState> SqliteJobStore::fail(std::string_view id, const Lease& lease, const Failure& f) {
  const std::string ctx = "failing job " + std::string(id);
  return impl_->under_lease<JobState>(
      id, lease, "fail", ctx,
      [&](Connection& c, const LeaseRow& row, TimeMs now) -> Result<JobState> {
        const Outcome o = after_failed_run(row, f.reason, f.retryable, true, f.degrade, f.kind);
        if (auto r = apply_outcome(c, row.seq, o, now, f.observed_peak_bytes); !r)
          return err(r, ctx);
        return o.state;
      });
}

Result<void> SqliteJobStore::mark_cancelled(std::string_view id, const Lease& lease) {
  const std::string ctx = "cancelling job " + std::string(id);
  return impl_->under_lease<void>(
      id, lease, "mark_cancelled", ctx,
      [&](Connection& c, const LeaseRow& row, TimeMs now) -> Result<void> {
        if (!row.cancel_requested) return soroka::fail(ctx + ": no cancel was requested", EINVAL);
        const Outcome o{JobState::cancelled, row.attempts, row.degrade, "cancelled while running"};
        if (auto r = apply_outcome(c, row.seq, o, now, 0); !r) return err(r, ctx);
        return {};
      });
}

Result<void> SqliteJobStore::release(std::string_view id, const Lease& lease) {
  const std::string ctx = "releasing job " + std::string(id);
  return impl_->under_lease<void>(
      id, lease, "release", ctx,
      [&](Connection& c, const LeaseRow& row, TimeMs now) -> Result<void> {
        Outcome o{JobState::queued, row.attempts, row.degrade,
                  "run " + std::to_string(row.runs) + " released unfinished"};
        if (row.cancel_requested) o = {JobState::cancelled, row.attempts, row.degrade, "cancelled"};
        if (auto r = apply_outcome(c, row.seq, o, now, 0); !r) return err(r, ctx);
        return {};
      });
}

Result<JobState> SqliteJobStore::cancel(std::string_view id) {
  const std::string ctx = "cancelling job " + std::string(id);
  std::lock_guard lock(impl_->mu);
  Connection& c = impl_->conn;
  const TimeMs now = impl_->now();
  auto txn = Transaction::begin(c);
  if (!txn) return err(txn, ctx);
  auto row = load_lease_row(c, id);
  if (!row) return err(row, ctx);
  if (!*row) return soroka::fail("no job " + std::string(id), ENOENT);
  const LeaseRow& r = **row;
  if (is_terminal(r.state)) return r.state;  // nothing to change; the transaction just ends
  Result<Query> q = r.state == JobState::queued
                        ? c.query(
                              "UPDATE jobs SET state = 'cancelled', finished_at = ?2, "
                              "updated_at = ?2, last_error = 'cancelled before it ran' "
                              "WHERE seq = ?1")
                        : c.query(
                              "UPDATE jobs SET cancel_requested = 1, updated_at = ?2 "
                              "WHERE seq = ?1");
  if (!q) return err(q, ctx);
  q->bind(1, r.seq).bind(2, db_time(now));
  if (auto w = q->run(); !w) return err(w, ctx);
  if (auto w = impl_->commit(*txn, "cancel"); !w) return err(w, ctx);
  return r.state == JobState::queued ? JobState::cancelled : JobState::running;
}

namespace {

// A running job whose run was interrupted: its lease row and why it counts as interrupted.
struct Interrupted {
  std::string id;
  LeaseRow row;
  std::string why;
};

// The running jobs whose lease expired before `now` or whose holder is gone.
Result<std::vector<Interrupted>> interrupted_runs(Connection& c, TimeMs now, const RecoverParams& params) {
  std::vector<Interrupted> found;
  auto q = c.query(
      "SELECT seq, id, lease_node, lease_pid, lease_expires_at, runs, attempts, max_attempts, "
      "degrade, cancel_requested FROM jobs WHERE state = 'running'");
  if (!q) return std::unexpected(q.error());
  for (;;) {
    auto step = q->step();
    if (!step) return std::unexpected(step.error());
    if (!*step) break;
    LeaseRow r;
    r.seq = q->i64(0);
    r.state = JobState::running;
    r.owner = LeaseOwner{q->text(2), q->i64(3)};
    r.runs = db_i32(q->i64(5));
    r.attempts = db_i32(q->i64(6));
    r.max_attempts = db_i32(q->i64(7));
    r.degrade = db_i32(q->i64(8));
    r.cancel_requested = q->i64(9) != 0;
    const TimeMs expires = from_db_time(q->i64(4));
    std::string why;
    if (expires <= now) {
      why = "lease expired";
    } else if (params.owner_alive && !params.owner_alive(*r.owner)) {
      why = "lease holder is gone";
    } else {
      continue;
    }
    why = "run " + std::to_string(r.runs) + " by " + to_string(*r.owner) + " interrupted (" + why + ")";
    found.push_back({q->text(1), std::move(r), std::move(why)});
  }
  return found;  // the SELECT is reset here, before the caller's UPDATEs
}

}  // namespace

Result<RecoverReport> SqliteJobStore::recover(TimeMs now, const RecoverParams& params) {
  const std::string ctx = "recovering interrupted jobs";
  std::lock_guard lock(impl_->mu);
  Connection& c = impl_->conn;
  auto txn = Transaction::begin(c);
  if (!txn) return err(txn, ctx);
  auto interrupted = interrupted_runs(c, now, params);
  if (!interrupted) return err(interrupted, ctx);
  const std::vector<Interrupted>& found = *interrupted;

  RecoverReport report;
  for (const Interrupted& it : found) {
    // Out of attempts after interruptions: the service's own death (or a host OOM kill the
    // caller could not attribute), never the user's input, so internal.
    const Outcome o = after_failed_run(it.row, it.why, true, params.count_attempt, params.degrade,
                                       FailureKind::internal);
    if (auto r = apply_outcome(c, it.row.seq, o, now, 0); !r) return err(r, ctx);
    auto& bucket = o.state == JobState::queued   ? report.requeued
                   : o.state == JobState::failed ? report.failed
                                                 : report.cancelled;
    bucket.push_back(it.id);
  }
  if (found.empty()) return report;
  if (auto r = impl_->commit(*txn, "recover"); !r) return err(r, ctx);
  return report;
}

std::int64_t StateCounts::total() const {
  std::int64_t t = 0;
  for (auto n : by_state) t += n;
  return t;
}

Result<StateCounts> SqliteJobStore::counts() {
  std::lock_guard lock(impl_->mu);
  auto q = impl_->conn.query("SELECT state, count(*) FROM jobs GROUP BY state");
  if (!q) return err(q, "counting jobs");
  StateCounts counts;
  for (;;) {
    auto row = q->step();
    if (!row) return err(row, "counting jobs");
    if (!*row) break;
    if (auto s = parse_state(q->text(0))) {
      counts.by_state[static_cast<std::size_t>(*s)] = q->i64(1);
    }
  }
  return counts;
}

Result<std::int64_t> SqliteJobStore::queue_length() {
  std::lock_guard lock(impl_->mu);
  // Counted from the jobs_queue partial index alone.
  auto q = impl_->conn.query("SELECT count(*) FROM jobs WHERE state = 'queued'");
  if (!q) return err(q, "measuring the queue");
  auto row = q->step();
  if (!row) return err(row, "measuring the queue");
  return *row ? q->i64(0) : 0;
}

Result<PurgeReport> SqliteJobStore::purge(TimeMs older_than) {
  const std::string ctx = "purging finished jobs";
  constexpr std::string_view kWhere =
      "WHERE state IN ('succeeded', 'failed', 'cancelled') AND finished_at < ?1";
  std::lock_guard lock(impl_->mu);
  Connection& c = impl_->conn;
  auto txn = Transaction::begin(c);
  if (!txn) return err(txn, ctx);
  PurgeReport report;
  {
    auto q = c.query("SELECT input_path, result_path, params FROM jobs " + std::string(kWhere));
    if (!q) return err(q, ctx);
    q->bind(1, db_time(older_than));
    for (;;) {
      auto row = q->step();
      if (!row) return err(row, ctx);
      if (!*row) break;
      report.purged.push_back({q->text(0), q->text(1), q->text(2)});
    }
  }
  auto q = c.query("DELETE FROM jobs " + std::string(kWhere));
  if (!q) return err(q, ctx);
  q->bind(1, db_time(older_than));
  if (auto r = q->run(); !r) return err(r, ctx);
  report.jobs = c.changes();
  if (report.jobs == 0) return report;
  // Rows go first, files after (by the caller): a crash in between leaks files, which a sweep
  // of the state dir can find, rather than leaving rows that point at deleted files.
  if (auto r = impl_->commit(*txn, "purge"); !r) return err(r, ctx);
  return report;
}

Result<FileReferences> SqliteJobStore::file_references() {
  const std::string ctx = "listing the files of jobs";
  std::lock_guard lock(impl_->mu);
  // One statement is one read snapshot, also against writers in other processes.
  auto q = impl_->conn.query("SELECT id, input_path, result_path FROM jobs");
  if (!q) return err(q, ctx);
  FileReferences refs;
  for (;;) {
    auto row = q->step();
    if (!row) return err(row, ctx);
    if (!*row) break;
    refs.ids.push_back(q->text(0));
    for (int col : {1, 2}) {
      if (std::string f = q->text(col); !f.empty()) refs.paths.push_back(std::move(f));
    }
  }
  return refs;
}

Result<bool> SqliteJobStore::integrity_ok() {
  std::lock_guard lock(impl_->mu);
  auto q = impl_->conn.query("PRAGMA integrity_check");
  if (!q) return err(q, "checking integrity");
  auto row = q->step();
  if (!row) return err(row, "checking integrity");
  return *row && q->text(0) == "ok";
}

bool process_alive(std::int64_t pid) noexcept {
  // pid 0 and negative pids address process groups in kill(); never probe those.
  if (pid <= 0 || pid > INT_MAX) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

std::function<bool(const LeaseOwner&)> local_owner_alive(std::string this_node) {
  return [node = std::move(this_node)](const LeaseOwner& o) {
    return o.node != node || process_alive(o.pid);
  };
}

}  // namespace soroka::jobs

// Scheduler: claims queued jobs, reserves memory for each, runs it in a worker, records the end.
#include "service/scheduler.h"

#include <algorithm>
#include <filesystem>
#include <limits>

#include <fmt/format.h>

#include "service/job_params.h"
#include "service/job_sizing.h"
#include "service/owner_limit.h"
#include "service/store_health.h"
#include "util/durable.h"
#include "util/log.h"
#include "util/text.h"
#include "util/units.h"
#include "worker/protocol.h"

namespace soroka::service {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// An end-of-run write that failed for a storage reason (disk full) is tried again this often
// while the run's lease holds: the result is on disk, so a commit a few seconds late saves
// re-running the whole job.
constexpr auto kStoreRetry = 1s;
// While memory is above normal the pressure thread re-decides this often: idle workers that
// became idle meanwhile are ended, and at critical the next preemption comes due.
constexpr auto kPressureTick = 250ms;
// The dispatcher looks for work at least this often without a wake-up (another node's jobs,
// expired idle workers).
constexpr auto kDispatchTick = 500ms;

// A finished job's input files: nothing will read them again. A failure only leaks them until
// the state dir's sweep, so it is logged, not acted on.
void forget_input(const jobs::Job& job) {
  if (auto r = remove_input(job.spec.input_path, job.spec.params); !r)
    spdlog::warn("event=input_remove_failed job={} error=\"{}\"", job.id, log_escape(r.error().message));
}

// How often a worker with a job must say something (a progress line, repeated if unchanged)
// so that the stall watchdog can tell it from a stuck one: four chances per stall timeout.
std::chrono::milliseconds worker_heartbeat(std::chrono::milliseconds stall_timeout) {
  return std::max<std::chrono::milliseconds>(stall_timeout / 4, 100ms);
}

long long secs(std::chrono::milliseconds d) {
  return std::chrono::duration_cast<std::chrono::seconds>(d).count();
}

void remove_file(const std::string& path) {
  if (path.empty()) return;
  std::error_code ec;
  fs::remove(path, ec);
}

// Why a finished result cannot be recorded; empty when it can. The row will point at the file:
// it must survive power loss first (the worker synced it; this also covers its directory entry).
std::string result_problem(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return "the worker ended without writing a result";
  if (auto d = durable::sync_file_and_dir(path); !d)
    return "the result could not be made durable: " + d.error().message;
  return {};
}

}  // namespace

SchedulerParams scheduler_params(const ServiceSettings& s) {
  SchedulerParams p;
  p.worker_memory = s.worker_memory;
  p.worker_max_memory = s.worker_max_memory;
  p.worker_timeout = s.worker_timeout;
  p.stall_timeout = s.worker_stall_timeout;
  p.idle_ttl = s.worker_idle_ttl;
  return p;
}

struct Scheduler::Run {
  jobs::Job job;
  JobParams params;
  std::uint64_t need = 0;                 // its reservation, from job_sizing
  std::unique_ptr<PooledWorker> worker;   // owned while the job runs
  std::shared_ptr<WorkerConn> conn;       // = worker->conn once started (under mu_)
  std::string result_path;
  Clock::time_point started = Clock::now();
  // When the lease runs out unless renewed: the claim or the last heartbeat that committed.
  Clock::time_point lease_until{};
  // Set by other threads under mu_: why we stop it.
  bool cancel = false, preempt = false, shutdown = false;
  // The runner's own: what it saw and did.
  bool stale = false, timed_out = false, stalled = false;
  bool ended = false;  // the worker closed its output (it ended)
  RunEnd::Report report = RunEnd::Report::none;
  FailureKind reported_kind = FailureKind::none;
  std::string worker_error;
  std::uint64_t job_peak = 0;  // the worker's peak RSS during this job, as it reported
  double progress = -1;
  Clock::time_point job_start{}, last_beat{}, last_progress{}, last_heard{};

  // The job ended, whether or not the worker lives on.
  bool conclusive() const {
    return report == RunEnd::Report::done ||
           (report == RunEnd::Report::failed && is_user_error(reported_kind));
  }
};

// A claimed job given up before it ran.
struct Scheduler::GiveUp {
  enum class What { fail, cancel, release };
  What what = What::fail;
  std::string reason;  // with fail
  FailureKind kind = FailureKind::internal;
};

Scheduler::Scheduler(jobs::JobQueue& store, oomguard::MemoryBudget& budget,
                     WorkerLauncher& launcher, Metrics& metrics, SchedulerParams params)
    : store_(store), budget_(budget), metrics_(metrics), params_(std::move(params)),
      pool_(launcher), policy_(params_.shed_grace) {}

Scheduler::~Scheduler() { shutdown(0ms); }

void Scheduler::start() {
  std::lock_guard lk(mu_);
  if (started_) return;
  started_ = true;
  dispatcher_ = std::thread([this] { dispatch_loop(); });
  pressure_ = std::thread([this] { pressure_loop(); });
}

void Scheduler::wake() {
  {
    std::lock_guard lk(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

bool Scheduler::stopping() const {
  std::lock_guard lk(mu_);
  return stopping_;
}

std::size_t Scheduler::running() const {
  std::lock_guard lk(mu_);
  return runs_.size();  // one entry per live run_job thread: see runs_
}

bool Scheduler::waiting_for_memory(const std::string& id) const {
  std::lock_guard lk(mu_);
  return !id.empty() && waiting_id_ == id;
}

std::size_t Scheduler::idle_workers() const { return pool_.idle(); }

void Scheduler::set_limits(std::uint64_t worker_memory, std::uint64_t worker_max_memory,
                           std::chrono::milliseconds idle_ttl) {
  std::lock_guard lk(mu_);
  params_.worker_memory = worker_memory;
  params_.worker_max_memory = worker_max_memory;
  params_.idle_ttl = idle_ttl;
}

// --- the dispatcher ---

void Scheduler::dispatch_loop() {
  while (wait_for_work()) {
    const auto ttl = [&] {
      std::lock_guard lk(mu_);
      return params_.idle_ttl;
    }();
    const auto now = Clock::now();
    (void)pool_.retire_where([&](const PooledWorker& w) { return now - w.idle_since >= ttl; },
                             "idle_ttl");
    // At warning the budget is paused: jobs stay queued (and visible as queued) until it calms.
    if (budget_.paused()) continue;
    RunPtr run = claim();
    if (!run || !size(*run) || !acquire_worker(*run)) continue;
    launch(std::move(run));
  }
}

bool Scheduler::wait_for_work() {
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, kDispatchTick, [&] { return stopping_ || woken_; });
  woken_ = false;
  return !stopping_;
}

Scheduler::RunPtr Scheduler::claim() {
  // A job whose owner already runs its limit waits; the next one that may start is claimed.
  auto claimed = store_.claim_next(params_.owner, params_.lease, first_startable);
  if (!claimed) {
    spdlog::error("event=claim_failed error=\"{}\"", log_escape(claimed.error().message));
    return nullptr;
  }
  if (!*claimed) return nullptr;
  auto run = std::make_shared<Run>();
  run->lease_until = Clock::now() + params_.lease;
  run->job = std::move(**claimed);
  auto params = parse_job_params(run->job.spec.params);
  if (!params) {
    give_up(*run, {GiveUp::What::fail, "bad job parameters: " + params.error().message,
                   FailureKind::invalid_request});
    return nullptr;
  }
  run->params = std::move(*params);
  return run;
}

bool Scheduler::size(Run& run) {
  SizingInput in;
  {
    std::lock_guard lk(mu_);
    in.base_bytes = params_.worker_memory;
    in.max_bytes = params_.worker_max_memory;
    if (auto it = peaks_.find(run.params.model); it != peaks_.end()) in.model_peak = it->second;
  }
  if (params_.model_bytes)
    if (std::uint64_t b = params_.model_bytes(run.params.model); b > 0) in.base_bytes = b;
  in.duration_s = run.params.duration_s;
  in.diarize = run.params.diarize.has_value();
  in.job_peak = run.job.observed_peak_bytes;
  in.capacity = budget_.capacity();
  const Sizing s = size_job(in);
  run.need = s.need;
  if (s.fits) return true;
  spdlog::warn("event=job_failed job={} reason=too_big_for_budget need_mib={} capacity_mib={}",
               run.job.id, to_mib(s.need), to_mib(in.capacity));
  give_up(run, {GiveUp::What::fail,
                fmt::format("model {} needs about {} MiB; this service can give a worker at most "
                            "{} MiB",
                            run.params.model, to_mib(s.need), to_mib(in.capacity)),
                FailureKind::too_big});
  return false;
}

// A warm worker of this model, else the memory for a new one: waits for room, renewing the
// lease (FIFO in the budget keeps a big job from starving); idle workers make room first.
bool Scheduler::acquire_worker(Run& run) {
  const std::string label = "worker for job " + run.job.id;
  auto last_beat = Clock::now();
  auto not_waiting = [&] {
    std::lock_guard lk(mu_);
    waiting_id_.clear();
  };
  while (!(run.worker = pool_.take(run.params.model, run.need))) {
    auto r = budget_.try_reserve(run.need, label);
    if (!r && r.error().code == EAGAIN && pool_.retire_oldest("room_for_another_job")) continue;
    if (!r && r.error().code != ENOMEM) {
      {
        std::lock_guard lk(mu_);
        waiting_id_ = run.job.id;
      }
      r = budget_.reserve(run.need, label, 1s);
    }
    if (r) {
      run.worker = std::make_unique<PooledWorker>();
      run.worker->model = run.params.model;
      run.worker->limit = run.need;
      run.worker->reservation = std::move(*r);
      break;
    }
    if (r.error().code == ENOMEM) {  // the capacity shrank below this job while it waited
      not_waiting();
      give_up(run, {GiveUp::What::fail,
                    "the memory budget no longer fits this job: " + r.error().message,
                    FailureKind::too_big});
      return false;
    }
    if (!still_wanted(run, last_beat)) {
      not_waiting();
      return false;
    }
  }
  not_waiting();
  return true;
}

// While a claimed job waits for memory: false (and the job given back) once the service stops
// or the user cancels it; its lease is renewed meanwhile.
bool Scheduler::still_wanted(Run& run, Clock::time_point& last_beat) {
  if (stopping()) {
    give_up(run, {GiveUp::What::release, "", FailureKind::none});
    return false;
  }
  if (Clock::now() - last_beat <= params_.lease / 4) return true;
  last_beat = Clock::now();
  auto hb = store_.heartbeat(run.job.id, run.job.lease(), params_.lease);
  if (hb) run.lease_until = last_beat + params_.lease;
  if (hb && hb->cancel_requested) {
    give_up(run, {GiveUp::What::cancel, "", FailureKind::none});
    return false;
  }
  return true;
}

void Scheduler::give_up(Run& run, const GiveUp& why) {
  const jobs::Lease lease = run.job.lease();
  std::optional<jobs::JobState> after;
  switch (why.what) {
    case GiveUp::What::fail:
      if (auto st = store_.fail(run.job.id, lease, {why.reason, false, false, 0, why.kind})) after = *st;
      break;
    case GiveUp::What::cancel:
      if (store_.mark_cancelled(run.job.id, lease)) after = jobs::JobState::cancelled;
      break;
    case GiveUp::What::release:
      (void)store_.release(run.job.id, lease);
      break;
  }
  if (after && jobs::is_terminal(*after)) forget_input(run.job);
  done_cv_.notify_all();
}

void Scheduler::launch(RunPtr run) {
  const std::string& id = run->job.id;
  // One file per run: a superseded run that is still ending must not write over its
  // successor's result (the state sweep keeps "<id>.<anything>" files of known jobs).
  run->result_path = fmt::format("{}/{}.run{}.json", params_.results_dir, id, run->job.runs);
  spdlog::info("event=job_start job={} run={} model={} attempt={} degrade={} reserve_mib={} "
               "worker={} budget_reserved_mib={} budget_capacity_mib={}",
               id, run->job.runs, run->params.model, run->job.attempts + 1, run->job.degrade,
               to_mib(run->worker->limit), run->worker->conn ? "warm" : "new",
               to_mib(budget_.reserved()), to_mib(budget_.capacity()));
  {
    std::lock_guard lk(mu_);
    runs_[{id, run->job.runs}] = run;
    ++threads_;
    woken_ = true;  // maybe the next one fits too
  }
  std::thread([this, run] { run_job(run); }).detach();
}

// --- a runner: one job on one worker ---

void Scheduler::run_job(RunPtr run) {
  if (ensure_worker(*run)) {
    converse(*run);
    conclude(*run);
  }
  hand_back(std::move(run));
}

// Starts the run's worker if it is new. False when it could not start; the job has then been
// failed (retryable).
bool Scheduler::ensure_worker(Run& run) {
  PooledWorker& w = *run.worker;
  if (!w.conn) {
    if (auto started = pool_.start(w, run.job.id); !started) {
      spdlog::error("event=worker_spawn_failed job={} error=\"{}\"", run.job.id,
                    log_escape(started.error().message));
      (void)store_.fail(run.job.id, run.job.lease(),
                        {"could not start a worker: " + started.error().message, true, false, 0,
                         FailureKind::worker_failed});
      return false;
    }
  } else {
    metrics_.worker_reuses.fetch_add(1, std::memory_order_relaxed);
  }
  ++w.jobs;
  bool stop_now;
  {
    std::lock_guard lk(mu_);
    run.conn = w.conn;
    stop_now = run.cancel || run.preempt || run.shutdown;
  }
  if (stop_now) w.conn->terminate(1s);
  return true;
}

// Sends the job and follows the worker until the job ends (its report) or the worker does.
void Scheduler::converse(Run& run) {
  worker::JobRequest req{.id = run.job.id,
                         .input = run.job.spec.input_path,
                         .result = run.result_path,
                         .language = run.params.language,
                         .degrade = run.job.degrade,
                         .duration_s = run.params.duration_s,
                         .diarize = run.params.diarize};
  if (params_.stall_timeout.count() > 0) req.heartbeat = worker_heartbeat(params_.stall_timeout);
  // A worker that cannot take the line in 5 s is stuck: stopping it ends the loop below.
  if (auto sent = run.conn->send(worker::encode(req), 5s); !sent) run.conn->terminate(0ms);
  run.job_start = run.last_beat = run.last_heard = Clock::now();
  run.last_progress = run.job_start - 1h;
  while (!run.conclusive()) {
    if (!take_lines(run)) {
      run.ended = true;
      return;
    }
    if (!run.conclusive()) watch(run, Clock::now());
  }
}

// Every line waiting is taken before the store is written to: a slow store (a write lock held
// up to the 5 s busy timeout) costs one wait per round, not one per line. False once the worker
// closed its output.
bool Scheduler::take_lines(Run& run) {
  auto line = run.conn->receive(500ms);
  while (line) {
    run.last_heard = Clock::now();
    if (auto m = worker::decode_worker_message(*line)) {
      if (m->progress) run.progress = *m->progress;
      if (m->error) {
        run.worker_error = *m->error;
        run.reported_kind = m->kind;
        if (m->has_job) run.report = RunEnd::Report::failed;
      }
      if (m->done) {
        run.report = RunEnd::Report::done;
        run.job_peak = m->peak_bytes;
      }
    }
    if (run.conclusive()) return true;
    line = run.conn->receive(0ms);
  }
  return line.error().code == ETIMEDOUT;
}

// The runner's duties between lines: progress and lease to the store, and the stops it owes
// (cancel asked through the store, lease lost, job timeout, stall watchdog).
void Scheduler::watch(Run& run, Clock::time_point now) {
  const std::string& id = run.job.id;
  const jobs::Lease lease = run.job.lease();
  std::optional<jobs::LeaseStatus> status;
  if (run.progress >= 0 && now - run.last_progress >= 1s) {
    run.last_progress = now;
    auto s = store_.report_progress(id, lease, std::clamp(run.progress, 0.0, 1.0));
    if (s) status = *s;
    else if (s.error().code == ESTALE) run.stale = true;
  }
  if (now - run.last_beat >= params_.lease / 4) {
    run.last_beat = now;
    auto s = store_.heartbeat(id, lease, params_.lease);
    if (s) {
      status = *s;
      run.lease_until = now + params_.lease;
    } else if (s.error().code == ESTALE) {
      run.stale = true;
    }
  }
  if (run.stale) {
    spdlog::warn("event=lease_lost job={}: stopping its worker", id);
    run.conn->terminate(0ms);
  }
  if (status && status->cancel_requested) {
    {
      std::lock_guard lk(mu_);
      run.cancel = true;
    }
    run.conn->terminate(1s);
  }
  if (!run.timed_out && params_.worker_timeout.count() > 0 &&
      now - run.job_start >= params_.worker_timeout) {
    run.timed_out = true;
    metrics_.worker_timeouts.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("event=worker_timeout job={} run={} pid={} timeout_s={}", id, run.job.runs,
                 run.conn->pid(), secs(params_.worker_timeout));
    run.conn->terminate(2s);
  }
  // A stopped (SIGSTOP) or hung worker keeps its lease and reservation until killed; a live
  // one repeats its progress line every stall_timeout/4 from its decode loop.
  if (!run.stalled && params_.stall_timeout.count() > 0 && now - run.last_heard >= params_.stall_timeout) {
    run.stalled = true;
    metrics_.worker_stalls.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("event=worker_stalled job={} run={} pid={} silent_ms={}", id, run.job.runs,
                 run.conn->pid(),
                 std::chrono::duration_cast<std::chrono::milliseconds>(now - run.last_heard).count());
    run.conn->terminate(0ms);  // SIGKILL: a stopped process cannot act on SIGTERM
  }
}

// Gathers how the run ended and records what job_outcome makes of it.
void Scheduler::conclude(Run& run) {
  RunEnd e;
  if (run.ended) e.exit = run.conn->wait();
  {
    std::lock_guard lk(mu_);
    e.cancel = run.cancel;
    e.preempt = run.preempt;
    e.shutdown = run.shutdown;
  }
  e.report = run.report;
  e.reported_kind = run.reported_kind;
  e.worker_error = run.worker_error;
  e.stale = run.stale;
  e.timed_out = run.timed_out;
  e.stalled = run.stalled;
  e.peak_bytes = e.exit ? e.exit->peak_bytes.value_or(e.exit->max_rss_bytes) : run.job_peak;
  e.limit_bytes = run.worker->limit;
  e.degrade = run.job.degrade;
  e.attempt = run.job.attempts + 1;
  e.max_attempts = run.job.spec.max_attempts;
  e.worker_timeout = params_.worker_timeout;
  e.stall_timeout = params_.stall_timeout;
  const bool finished = e.report == RunEnd::Report::done ||
                        (e.exit && e.exit->kind == worker::ExitKind::exited &&
                         e.exit->exit_code == worker::kExitOk);
  if (finished && !e.stale) e.result_problem = result_problem(run.result_path);
  const auto wall = e.exit ? e.exit->wall : Clock::now() - run.job_start;
  spdlog::info("event=run_end job={} run={} worker={} kind={} code={} signal={} peak_mib={} "
               "wall_ms={} detail=\"{}\"",
               run.job.id, run.job.runs, e.exit ? "ended" : "alive",
               e.exit ? worker::to_string(e.exit->kind) : "none", e.exit ? e.exit->exit_code : 0,
               e.exit ? e.exit->signal : 0, to_mib(e.peak_bytes),
               std::chrono::duration_cast<std::chrono::milliseconds>(wall).count(),
               e.exit ? e.exit->detail : std::string());
  record(run, decide_outcome(e), e.peak_bytes);
}

void Scheduler::record(Run& run, const Outcome& o, std::uint64_t peak) {
  const std::string& id = run.job.id;
  const jobs::Lease lease = run.job.lease();
  std::optional<jobs::JobState> after;
  switch (o.action) {
    case Outcome::Action::drop:  // another run owns the job now
      break;
    case Outcome::Action::complete:
      if (!write_end(run, "complete", [&] { return store_.complete(id, lease, {"", run.result_path, peak}); }))
        break;
      after = jobs::JobState::succeeded;
      if (peak > 0) {  // a recorded success teaches the model's size
        std::lock_guard lk(mu_);
        auto& p = peaks_[run.params.model];
        p = std::max(p, peak);
      }
      break;
    case Outcome::Action::fail:
      count_failure(run, o.failure);
      (void)write_end(run, "fail", [&]() -> Result<void> {
        auto st = store_.fail(id, lease, o.failure);
        if (!st) return std::unexpected(st.error());
        after = *st;
        return {};
      });
      break;
    case Outcome::Action::cancel:
      if (write_end(run, "mark_cancelled", [&] { return store_.mark_cancelled(id, lease); }))
        after = jobs::JobState::cancelled;
      break;
    case Outcome::Action::release:
      spdlog::info("event=job_requeued job={} reason={}", id, run.preempt ? "memory_critical" : "shutdown");
      if (write_end(run, "release", [&] { return store_.release(id, lease); }))
        after = jobs::JobState::queued;
      break;
  }
  if (after) {
    spdlog::info("event=job_{} job={} run={}", jobs::to_string(*after), id, run.job.runs);
    if (jobs::is_terminal(*after)) forget_input(run.job);
  }
  // Unrecorded or not a success: the next run writes its own result file; this one would
  // only hold disk.
  if (after != jobs::JobState::succeeded) remove_file(run.result_path);
}

void Scheduler::count_failure(const Run& run, const jobs::Failure& f) {
  if (f.kind == FailureKind::oom_killed) {
    metrics_.worker_oom_kills.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("event=worker_oom_killed job={} attempt={}/{} limit_mib={}", run.job.id,
                 run.job.attempts + 1, run.job.spec.max_attempts, to_mib(run.worker->limit));
  } else if (f.kind == FailureKind::crashed) {
    metrics_.worker_crashes.fetch_add(1, std::memory_order_relaxed);
  }
}

// The worker goes back to the pool if it lives and may be reused, else it is ended; then the
// run is gone and its memory (or idle worker) may serve the next job.
void Scheduler::hand_back(RunPtr run) {
  std::unique_ptr<PooledWorker> keep = std::move(run->worker);
  {
    std::lock_guard lk(mu_);
    const bool warm = keep && keep->conn && keep->conn->running() && !stopping_ && !run->stale &&
                      params_.idle_ttl.count() > 0;
    // Put back before the run is gone, so that shutdown() (which waits for runs) sees it.
    if (warm) pool_.put(std::move(keep));
    runs_.erase({run->job.id, run->job.runs});
    woken_ = true;
  }
  cv_.notify_all();
  done_cv_.notify_all();
  if (keep) WorkerPool::retire(std::move(keep), "not_reusable");
  {
    std::lock_guard lk(mu_);
    run->conn.reset();  // apply_pressure() copies connections under the lock
  }
  // Last, and notified under the lock: once threads_ reaches 0, shutdown() returns and the
  // scheduler (and the launcher the retired worker came from) may be destroyed, so this
  // detached thread must not touch them afterwards.
  std::lock_guard lk(mu_);
  --threads_;
  cv_.notify_all();
}

bool Scheduler::write_end(Run& run, const char* op, const std::function<Result<void>()>& write) {
  for (int tries = 1;; ++tries) {
    auto r = write();
    if (r) {
      if (tries > 1)
        spdlog::info("event=store_write_retried job={} run={} op={} tries={}", run.job.id,
                     run.job.runs, op, tries);
      return true;
    }
    if (!is_storage_error(r.error().code) || stopping() ||
        Clock::now() + kStoreRetry >= run.lease_until) {
      // Not recorded: the job stays running in the store. Its lease runs out (no heartbeat
      // renews it now) and recover() re-queues it once writes commit again, or at the next
      // start when this process is gone.
      spdlog::error("event=job_end_unrecorded job={} run={} op={} tries={} error=\"{}\"",
                    run.job.id, run.job.runs, op, tries, log_escape(r.error().message));
      return false;
    }
    std::this_thread::sleep_for(kStoreRetry);
  }
}

// --- memory pressure ---

void Scheduler::on_level(oomguard::Level level) {
  budget_.set_paused(level != oomguard::Level::normal);  // at once, before the thread acts
  {
    std::lock_guard lk(mu_);
    level_ = level;
    level_changed_ = true;
  }
  level_cv_.notify_all();
}

void Scheduler::pressure_loop() {
  std::unique_lock lk(mu_);
  while (!stopping_) {
    const auto wait = level_ == oomguard::Level::normal ? std::chrono::milliseconds(std::chrono::hours(1))
                                                        : std::chrono::milliseconds(kPressureTick);
    level_cv_.wait_for(lk, wait, [&] { return stopping_ || level_changed_; });
    if (stopping_) break;
    const bool changed = std::exchange(level_changed_, false);
    const auto level = level_;
    if (!changed && level == oomguard::Level::normal) continue;
    lk.unlock();
    apply_pressure(level);
    lk.lock();
  }
}

void Scheduler::apply_pressure(oomguard::Level level) {
  std::vector<std::shared_ptr<WorkerConn>> conns;
  std::vector<std::string> ids;
  PressurePolicy::Actions a;
  {
    std::lock_guard lk(mu_);
    std::vector<Run*> runs;
    std::vector<PressurePolicy::RunView> views;
    for (auto& [key, r] : runs_) {
      if (!r->conn) continue;
      runs.push_back(r.get());
      views.push_back({r->job.spec.priority, r->started});
      conns.push_back(r->conn);
      ids.push_back(r->job.id);
    }
    a = policy_.decide(level, Clock::now(), views);
    if (a.preempt) runs[*a.preempt]->preempt = true;
  }
  budget_.set_paused(a.pause);
  // Idle workers are the cheapest memory to give back: they hold a model and no job.
  if (a.retire_idle && pool_.retire_where([](const PooledWorker&) { return true; }, "memory_pressure") > 0)
    wake();
  if (a.shed) {
    spdlog::warn("event=memory_critical action=shed workers={}", conns.size());
    for (auto& c : conns) c->shed();
  }
  if (a.preempt) {
    metrics_.worker_preemptions.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("event=memory_critical action=stop_worker job={} pid={}", ids[*a.preempt],
                 conns[*a.preempt]->pid());
    conns[*a.preempt]->terminate(1s);
  }
}

// --- stopping and waiting ---

void Scheduler::cancel_running(const std::string& id) {
  std::vector<std::shared_ptr<WorkerConn>> conns;
  {
    std::lock_guard lk(mu_);
    for (auto it = runs_.lower_bound({id, std::numeric_limits<std::int32_t>::min()});
         it != runs_.end() && it->first.first == id; ++it) {
      it->second->cancel = true;
      if (it->second->conn) conns.push_back(it->second->conn);
    }
  }
  for (auto& c : conns) c->terminate(1s);
}

void Scheduler::shutdown(std::chrono::milliseconds timeout) {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  level_cv_.notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
  if (pressure_.joinable()) pressure_.join();
  (void)pool_.retire_where([](const PooledWorker&) { return true; }, "shutdown");
  std::unique_lock lk(mu_);
  if (threads_ > 0)
    spdlog::info("event=shutdown_drain running={} timeout_ms={}", runs_.size(), timeout.count());
  cv_.wait_for(lk, timeout, [&] { return threads_ == 0; });
  if (threads_ > 0) {
    for (auto& [key, r] : runs_) {
      r->shutdown = true;
      if (r->conn) r->conn->terminate(1s);
    }
  }
  // Workers were told to stop: they end within their grace, and their runners then return.
  cv_.wait(lk, [&] { return threads_ == 0; });
}

void Scheduler::wait_any_finished(std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  done_cv_.wait_for(lk, timeout);
}

Result<jobs::Job> Scheduler::wait_finished(const std::string& id,
                                           std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    auto job = store_.get(id);
    if (!job || jobs::is_terminal(job->state)) return job;
    auto now = Clock::now();
    if (now >= deadline) return job;
    std::unique_lock lk(mu_);
    if (stopping_ && threads_ == 0) return job;
    done_cv_.wait_for(lk, std::min<Clock::duration>(deadline - now, 1s));
  }
}

}  // namespace soroka::service

// Scheduler: claims queued jobs, reserves memory for each, runs it in a worker, records the end.
#include "service/scheduler.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/factory.h"
#include "pipeline/pipeline.h"
#include "service/job_params.h"
#include "service/store_health.h"
#include "util/durable.h"
#include "util/text.h"
#include "util/log.h"
#include "worker/line_channel.h"
#include "worker/protocol.h"
#include "util/units.h"

namespace soroka::service {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Exit codes of `soroka worker` (worker_cmd.cpp): 3 = the input cannot be transcribed (a user
// error, retrying will not help); anything else non-zero is the worker's own failure.
constexpr int kWorkerUserError = 3;


// An end-of-run write that failed for a storage reason (disk full) is tried again this often
// while the run's lease holds: the result is on disk, so a commit a few seconds late saves
// re-running the whole job.
constexpr auto kStoreRetry = 1s;

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

}  // namespace

struct Scheduler::Run {
  jobs::Job job;
  JobParams params;
  std::unique_ptr<PooledWorker> worker;          // owned while the job runs
  std::shared_ptr<worker::WorkerHandle> handle;  // = worker->handle once spawned
  std::uint64_t limit = 0;  // the worker's cgroup limit for this job
  std::string result_path;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  // When the lease runs out unless renewed: the claim or the last heartbeat that committed.
  std::chrono::steady_clock::time_point lease_until{};
  bool cancel = false, preempt = false, shutdown = false, stale = false, timed_out = false;
  bool stalled = false;      // silent past stall_timeout: killed by the watchdog
  std::string worker_error;  // the worker's {"error": ...} line
  bool user_error = false;   // ... flagged as being about the input
  bool done = false;         // the worker said the result is written
  std::uint64_t job_peak = 0;  // the worker's peak RSS during this job
};

Scheduler::Scheduler(jobs::JobQueue& store, oomguard::MemoryBudget& budget,
                     worker::WorkerSupervisor& supervisor, Metrics& metrics,
                     SchedulerParams params)
    : store_(store), budget_(budget), metrics_(metrics), params_(std::move(params)),
      pool_(supervisor, metrics,
            {params_.soroka_exe, params_.sandbox, params_.uploads_dir, params_.results_dir, params_.worker_args}) {}

Scheduler::~Scheduler() { shutdown(0ms); }

void Scheduler::start() {
  std::lock_guard lk(mu_);
  if (started_) return;
  started_ = true;
  dispatcher_ = std::thread([this] { dispatch_loop(); });
}

void Scheduler::wake() {
  {
    std::lock_guard lk(mu_);
    woken_ = true;
  }
  cv_.notify_all();
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

std::uint64_t Scheduler::estimate_bytes(const std::string& model, double duration_s,
                                        std::uint64_t worker_memory,
                                        std::uint64_t observed_peak) {
  std::uint64_t base = engine::worker_base_bytes(model, worker_memory);
  base += pipeline::transcript_bytes(duration_s);
  // A run of this job was seen to need more: give it a quarter more than it reached.
  if (observed_peak > 0) base = std::max(base, observed_peak + observed_peak / 4);
  return base;
}

std::uint64_t Scheduler::learned_peak(const std::string& model) const {
  auto it = peaks_.find(model);
  return it == peaks_.end() ? 0 : it->second;
}

void Scheduler::dispatch_loop() {
  while (true) {
    {
      std::unique_lock lk(mu_);
      cv_.wait_for(lk, 500ms, [&] { return stopping_ || woken_; });
      woken_ = false;
      if (stopping_) return;
    }
    const auto ttl = [&] {
      std::lock_guard lk(mu_);
      return params_.idle_ttl;
    }();
    const auto now = std::chrono::steady_clock::now();
    (void)pool_.retire_where([&](const PooledWorker& w) { return now - w.idle_since >= ttl; }, "idle_ttl");
    // At warning the budget is paused: jobs stay queued (and visible as queued) until it calms.
    if (budget_.paused()) continue;
    auto claimed = store_.claim_next(params_.owner, params_.lease);
    if (!claimed) {
      spdlog::error("event=claim_failed error=\"{}\"", log_escape(claimed.error().message));
      continue;
    }
    if (!*claimed) continue;
    auto run = std::make_shared<Run>();
    run->lease_until = std::chrono::steady_clock::now() + params_.lease;
    run->job = std::move(**claimed);
    const std::string id = run->job.id;
    const jobs::Lease lease = run->job.lease();
    auto params = parse_job_params(run->job.spec.params);
    if (!params) {
      (void)store_.fail(id, lease, {"bad job parameters: " + params.error().message, false, false, 0});
      continue;
    }
    run->params = *params;
    std::uint64_t worker_memory, worker_max;
    std::uint64_t learned;
    {
      std::lock_guard lk(mu_);
      worker_memory = params_.worker_memory;
      worker_max = params_.worker_max_memory;
      learned = learned_peak(run->params.model);
    }
    std::uint64_t need = estimate_bytes(run->params.model, run->params.duration_s, worker_memory,
                                        run->job.observed_peak_bytes);
    // Peaks of earlier successful runs of this model correct the configured guess downwards
    // (never below what this job itself was seen to need).
    if (learned > 0 && run->job.observed_peak_bytes == 0)
      need = std::min(need, std::max<std::uint64_t>(learned + learned / 2, 64 * kMiB));
    if (worker_max > 0) need = std::min(need, worker_max);
    const std::uint64_t capacity = budget_.capacity();
    if (need > capacity) {
      if (run->job.observed_peak_bytes > 0 && capacity > 0) {
        need = capacity;  // grown by observed peaks: try with all there is
      } else {
        auto st = store_.fail(id, lease,
                              {fmt::format("model {} needs about {} MiB; this service can give a "
                                           "worker at most {} MiB",
                                           run->params.model, to_mib(need), to_mib(capacity)),
                               false, false, 0});
        spdlog::warn("event=job_failed job={} reason=too_big_for_budget need_mib={} capacity_mib={}",
                     id, to_mib(need), to_mib(capacity));
        if (st && jobs::is_terminal(*st)) remove_file(run->job.spec.input_path);
        done_cv_.notify_all();
        continue;
      }
    }
    // A warm worker of this model, else a new one: wait for room, renewing the lease (FIFO
    // in the budget keeps a big job from starving); idle workers make room first.
    bool given_back = false;
    auto last_beat = std::chrono::steady_clock::now();
    while (!(run->worker = pool_.take(run->params.model, need))) {
      auto r = budget_.try_reserve(need, "worker for job " + id);
      if (!r && r.error().code == EAGAIN && pool_.retire_oldest("room_for_another_job")) continue;
      if (!r && r.error().code != ENOMEM) {
        {
          std::lock_guard lk(mu_);
          waiting_id_ = id;
        }
        r = budget_.reserve(need, "worker for job " + id, 1s);
      }
      if (r) {
        run->worker = std::make_unique<PooledWorker>();
        run->worker->model = run->params.model;
        run->worker->limit = need;
        run->worker->reservation = std::move(*r);
        break;
      }
      bool stop;
      {
        std::lock_guard lk(mu_);
        stop = stopping_;
      }
      if (r.error().code == ENOMEM) {
        // The capacity shrank below this job while it waited (the limit was lowered).
        auto st = store_.fail(id, lease, {"the memory budget no longer fits this job: " + r.error().message,
                                          false, false, 0});
        if (st && jobs::is_terminal(*st)) remove_file(run->job.spec.input_path);
        done_cv_.notify_all();
        given_back = true;
        break;
      }
      if (stop) {
        (void)store_.release(id, lease);
        given_back = true;
        break;
      }
      if (std::chrono::steady_clock::now() - last_beat > params_.lease / 4) {
        last_beat = std::chrono::steady_clock::now();
        auto hb = store_.heartbeat(id, lease, params_.lease);
        if (hb) run->lease_until = last_beat + params_.lease;
        if (hb && hb->cancel_requested) {
          (void)store_.mark_cancelled(id, lease);
          remove_file(run->job.spec.input_path);
          done_cv_.notify_all();
          given_back = true;
          break;
        }
      }
    }
    {
      std::lock_guard lk(mu_);
      waiting_id_.clear();
    }
    if (given_back) continue;
    // One file per run: a superseded run that is still ending must not write over its
    // successor's result (the state sweep keeps "<id>.<anything>" files of known jobs).
    run->result_path = fmt::format("{}/{}.run{}.json", params_.results_dir, id, run->job.runs);
    run->limit = run->worker->limit;
    spdlog::info("event=job_start job={} run={} model={} attempt={} degrade={} reserve_mib={} "
                 "worker={} budget_reserved_mib={} budget_capacity_mib={}",
                 id, run->job.runs, run->params.model, run->job.attempts + 1, run->job.degrade,
                 to_mib(run->worker->limit), run->worker->handle ? "warm" : "new",
                 to_mib(budget_.reserved()), to_mib(budget_.capacity()));
    {
      std::lock_guard lk(mu_);
      runs_[{id, run->job.runs}] = run;
      ++threads_;
      woken_ = true;  // maybe the next one fits too
    }
    std::thread([this, run] { run_job(run); }).detach();
  }
}

// Starts the run's worker if it is new and waits for its "ready" line (the model is loaded).
// False when it could not start; the job has then been failed (retryable) or given back.
bool Scheduler::ensure_worker(Run& run) {
  if (run.worker->handle) return true;
  auto started = pool_.start(*run.worker, run.job.id);
  if (started) return true;
  spdlog::error("event=worker_spawn_failed job={} error=\"{}\"", run.job.id, log_escape(started.error().message));
  (void)store_.fail(run.job.id, run.job.lease(),
                    {"could not start a worker: " + started.error().message, true, false, 0});
  return false;
}

void Scheduler::run_job(std::shared_ptr<Run> run) {
  const std::string id = run->job.id;
  const jobs::Lease lease = run->job.lease();
  if (ensure_worker(*run)) {
    PooledWorker& w = *run->worker;
    bool stop_now = false;
    {
      std::lock_guard lk(mu_);
      run->handle = w.handle;
      stop_now = run->cancel || run->preempt || run->shutdown;
    }
    if (stop_now) w.handle->terminate(1s);
    if (w.jobs > 0) metrics_.worker_reuses.fetch_add(1, std::memory_order_relaxed);
    ++w.jobs;
    nlohmann::json req = {{"job", id},
                          {"input", run->job.spec.input_path},
                          {"result", run->result_path},
                          {"language", run->params.language},
                          {"degrade", run->job.degrade}};
    if (params_.stall_timeout.count() > 0)
      req["heartbeat_ms"] = worker_heartbeat(params_.stall_timeout).count();
    // A worker that cannot take the line in 5 s is stuck: stopping it ends the loop below.
    if (auto sent = w.channel->send(req.dump(), 5s); !sent) w.handle->terminate(0ms);
    const auto job_start = std::chrono::steady_clock::now();
    auto last_beat = job_start;
    auto last_progress = last_beat - 1h;
    auto last_heard = job_start;  // the worker's last line: the stall watchdog's clock
    double progress = -1;
    bool ended = false;  // the worker died (stdout closed)
    auto take_line = [&](const std::string& text) {
      last_heard = std::chrono::steady_clock::now();
      auto m = worker::decode_worker_message(text);
      if (!m) return;
      if (m->progress) progress = *m->progress;
      if (m->error) {
        run->worker_error = *m->error;
        run->user_error = is_user_error(m->kind) && m->has_job;
      }
      if (m->done) {
        run->done = true;
        run->job_peak = m->peak_bytes;
      }
    };
    while (!run->done && !run->user_error) {
      // Every line waiting is taken before the store is written to: a slow store (a write
      // lock held up to the 5 s busy timeout) costs one wait per round, not one per line.
      auto line = w.channel->receive(500ms);
      while (line) {
        take_line(*line);
        if (run->done || run->user_error) break;
        line = w.channel->receive(0ms);
      }
      if (!line && line.error().code != ETIMEDOUT) {
        ended = true;  // EPIPE: the worker closed its stdout (it ended)
        break;
      }
      auto now = std::chrono::steady_clock::now();
      std::optional<jobs::LeaseStatus> status;
      if (progress >= 0 && now - last_progress >= 1s) {
        last_progress = now;
        auto s = store_.report_progress(id, lease, std::clamp(progress, 0.0, 1.0));
        if (s) status = *s;
        else if (s.error().code == ESTALE) run->stale = true;
      }
      if (now - last_beat >= params_.lease / 4) {
        last_beat = now;
        auto s = store_.heartbeat(id, lease, params_.lease);
        if (s) {
          status = *s;
          run->lease_until = now + params_.lease;
        } else if (s.error().code == ESTALE) {
          run->stale = true;
        }
      }
      if (run->stale) {
        spdlog::warn("event=lease_lost job={}: stopping its worker", id);
        w.handle->terminate(0ms);
      }
      if (status && status->cancel_requested) {
        {
          std::lock_guard lk(mu_);
          run->cancel = true;
        }
        w.handle->terminate(1s);
      }
      if (!run->timed_out && params_.worker_timeout.count() > 0 &&
          now - job_start >= params_.worker_timeout) {
        run->timed_out = true;
        metrics_.worker_timeouts.fetch_add(1, std::memory_order_relaxed);
        spdlog::warn("event=worker_timeout job={} run={} pid={} timeout_s={}", id, run->job.runs,
                     w.handle->pid(), secs(params_.worker_timeout));
        w.handle->terminate(2s);
      }
      // A stopped (SIGSTOP) or hung worker keeps its lease and reservation until killed; a
      // live one repeats its progress line every stall_timeout/4 from its decode loop.
      if (!run->stalled && params_.stall_timeout.count() > 0 &&
          now - last_heard >= params_.stall_timeout) {
        run->stalled = true;
        metrics_.worker_stalls.fetch_add(1, std::memory_order_relaxed);
        spdlog::warn("event=worker_stalled job={} run={} pid={} silent_ms={}", id, run->job.runs,
                     w.handle->pid(),
                     std::chrono::duration_cast<std::chrono::milliseconds>(now - last_heard).count());
        w.handle->terminate(0ms);  // SIGKILL: a stopped process cannot act on SIGTERM
      }
    }
    if (ended) {
      finish(*run, w.handle->wait());
      run->worker.reset();  // its memory is back: release the reservation
    } else {
      worker::WorkerExit job_end;  // the job ended; the worker may live on
      job_end.wall = std::chrono::steady_clock::now() - job_start;
      job_end.exit_code = run->done ? 0 : kWorkerUserError;
      job_end.peak_bytes = run->job_peak;
      finish(*run, job_end);
    }
  }
  std::unique_ptr<PooledWorker> keep = std::move(run->worker);
  {
    std::lock_guard lk(mu_);
    const bool warm = keep && keep->handle && keep->handle->running() && !stopping_ &&
                      !run->stale && params_.idle_ttl.count() > 0;
    // Put back before the run is gone, so that shutdown() (which waits for runs) sees it.
    if (warm) pool_.put(std::move(keep));
    runs_.erase({id, run->job.runs});
    woken_ = true;  // its memory is free (or its worker idle): the next job may fit
  }
  cv_.notify_all();
  done_cv_.notify_all();
  if (keep) WorkerPool::retire(std::move(keep), "not_reusable");
  {
    std::lock_guard lk(mu_);
    run->handle.reset();  // on_level() copies handles under the lock
  }
  // Last, and notified under the lock: once threads_ reaches 0, shutdown() returns and the
  // scheduler (and the supervisor the retired worker belonged to) may be destroyed, so this
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
    const bool storage = is_storage_error(r.error().code);
    bool stopping;
    {
      std::lock_guard lk(mu_);
      stopping = stopping_;
    }
    if (!storage || stopping || std::chrono::steady_clock::now() + kStoreRetry >= run.lease_until) {
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

void Scheduler::finish(Run& run, const worker::WorkerExit& exit) {
  const std::string& id = run.job.id;
  const jobs::Lease lease = run.job.lease();
  const std::uint64_t peak = exit.peak_bytes.value_or(exit.max_rss_bytes);
  spdlog::info("event=worker_exit job={} run={} kind={} code={} signal={} peak_mib={} wall_ms={} "
               "detail=\"{}\"",
               id, run.job.runs, worker::to_string(exit.kind), exit.exit_code, exit.signal,
               to_mib(peak), std::chrono::duration_cast<std::chrono::milliseconds>(exit.wall).count(),
               exit.detail);
  if (run.stale) {  // another run owns the job now; this run's own result file is nobody's
    remove_file(run.result_path);
    return;
  }
  bool cancel, preempt, shutdown;
  {
    std::lock_guard lk(mu_);
    cancel = run.cancel;
    preempt = run.preempt;
    shutdown = run.shutdown;
  }
  std::optional<jobs::JobState> after;
  // A failure to record, retried while the lease holds (write_end).
  auto fail_job = [&](const std::string& reason, bool retryable, bool degrade, std::uint64_t p) {
    (void)write_end(run, "fail", [&]() -> Result<void> {
      auto st = store_.fail(id, lease, {reason, retryable, degrade, p});
      if (!st) return std::unexpected(st.error());
      after = *st;
      return {};
    });
  };
  const int attempt = run.job.attempts + 1;
  const int max_attempts = run.job.spec.max_attempts;
  // The job's timeout and the stall watchdog are enforced here, not by the supervisor (a
  // worker outlives its jobs): both stop the worker, which then ends as cancelled.
  worker::ExitKind kind = exit.kind;
  if (kind == worker::ExitKind::cancelled && !cancel && run.timed_out) kind = worker::ExitKind::timed_out;
  if (kind == worker::ExitKind::cancelled && !cancel && run.stalled) {
    // Retryable: a stopped or hung process says nothing about the job; the next run is in a
    // fresh worker.
    fail_job(fmt::format("stalled: the worker reported no progress for {} s "
                         "(worker.stall_timeout_ms) and was killed",
                         secs(params_.stall_timeout)),
             true, false, peak);
  } else {
    switch (kind) {
      case worker::ExitKind::exited:
        if (exit.exit_code == 0) {
          std::error_code ec;
          if (!fs::exists(run.result_path, ec)) {
            fail_job("the worker ended without writing a result", true, false, peak);
            break;
          }
          // The row will point at the file: it must survive power loss first (the worker
          // synced it; this also covers its directory entry).
          if (auto d = durable::sync_file_and_dir(run.result_path); !d) {
            fail_job("the result could not be made durable: " + d.error().message, true, false, peak);
            break;
          }
          if (exit.peak_bytes) {
            std::lock_guard lk(mu_);
            auto& p = peaks_[run.params.model];
            p = std::max(p, *exit.peak_bytes);
          }
          if (write_end(run, "complete", [&] { return store_.complete(id, lease, {"", run.result_path, peak}); }))
            after = jobs::JobState::succeeded;
        } else if (exit.exit_code == kWorkerUserError) {
          fail_job(std::string(kInvalidInputPrefix) +
                       (run.worker_error.empty() ? "the input cannot be transcribed" : run.worker_error),
                   false, false, peak);
        } else {
          fail_job(fmt::format("worker exited with code {}{}{}", exit.exit_code,
                               run.worker_error.empty() ? "" : ": ", run.worker_error),
                   true, false, peak);
        }
        break;
      case worker::ExitKind::oom_killed: {
        metrics_.worker_oom_kills.fetch_add(1, std::memory_order_relaxed);
        // degrade rises by one per OOM kill, so it counts this job's earlier ones.
        const int kills = run.job.degrade + 1;
        std::string reason = fmt::format(
            "worker was killed by the kernel OOM killer {} time{} at a {} MiB limit", kills,
            kills == 1 ? "" : "s", to_mib(run.limit));
        if (attempt < max_attempts) reason += "; retrying with cheaper settings";
        spdlog::warn("event=worker_oom_killed job={} attempt={}/{} limit_mib={}", id, attempt,
                     max_attempts, to_mib(run.limit));
        // The peak of an OOM-killed run is the limit it hit; the next run reserves more.
        fail_job(reason, true, true, std::max(peak, run.limit));
        break;
      }
      case worker::ExitKind::crashed:
        metrics_.worker_crashes.fetch_add(1, std::memory_order_relaxed);
        fail_job("worker crashed: " + exit.detail, true, false, peak);
        break;
      case worker::ExitKind::timed_out:
        // Retryable like any other end of a worker: a run slowed by a loaded host may fit the
        // next time; max_attempts bounds the cost of a job that never fits.
        fail_job(fmt::format("timed out: the job ran longer than {} s (worker.timeout_ms)",
                             secs(params_.worker_timeout)),
                 true, false, peak);
        break;
      case worker::ExitKind::cancelled:
        if (cancel) {
          if (write_end(run, "mark_cancelled", [&] { return store_.mark_cancelled(id, lease); }))
            after = jobs::JobState::cancelled;
        } else {
          if (preempt) spdlog::warn("event=job_requeued job={} reason=memory_critical", id);
          if (shutdown) spdlog::info("event=job_requeued job={} reason=shutdown", id);
          if (write_end(run, "release", [&] { return store_.release(id, lease); }))
            after = jobs::JobState::queued;
        }
        break;
    }
  }
  if (after) {
    spdlog::info("event=job_{} job={} run={}", jobs::to_string(*after), id, run.job.runs);
    if (jobs::is_terminal(*after)) remove_file(run.job.spec.input_path);
    if (*after != jobs::JobState::succeeded) remove_file(run.result_path);
  } else {
    // Unrecorded: the next run writes its own result file; this one would only hold disk.
    remove_file(run.result_path);
  }
}

void Scheduler::on_level(oomguard::Level level) {
  budget_.set_paused(level != oomguard::Level::normal);
  // Idle workers are the cheapest memory to give back: they hold a model and no job.
  if (level != oomguard::Level::normal)
    if (pool_.retire_where([](const PooledWorker&) { return true; }, "memory_pressure") > 0) wake();
  std::vector<std::shared_ptr<Run>> runs;
  {
    std::lock_guard lk(mu_);
    if (level != oomguard::Level::critical) {
      shed_sent_ = false;
      return;
    }
    for (auto& [id, r] : runs_)
      if (r->handle) runs.push_back(r);
  }
  auto now = std::chrono::steady_clock::now();
  std::unique_lock lk(mu_);
  if (!shed_sent_) {
    shed_sent_ = true;
    critical_since_ = now;
    lk.unlock();
    spdlog::warn("event=memory_critical action=shed workers={}", runs.size());
    // One short line each; the pipe is non-blocking and a full one just misses this hint.
    for (auto& r : runs) {
      int fd = r->handle->input().get();
      if (fd >= 0) (void)!::write(fd, "shed\n", 5);
    }
    return;
  }
  if (now - critical_since_ < params_.shed_grace || now - last_preempt_ < params_.shed_grace ||
      runs.empty())
    return;
  // Lowest priority first, then the newest: it has the least work to lose.
  auto victim = *std::max_element(runs.begin(), runs.end(), [](const auto& a, const auto& b) {
    if (a->job.spec.priority != b->job.spec.priority)
      return a->job.spec.priority > b->job.spec.priority;
    return a->started < b->started;
  });
  victim->preempt = true;
  last_preempt_ = now;
  lk.unlock();
  metrics_.worker_preemptions.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("event=memory_critical action=stop_worker job={} pid={}", victim->job.id,
               victim->handle->pid());
  victim->handle->terminate(1s);
}

void Scheduler::cancel_running(const std::string& id) {
  std::vector<std::shared_ptr<worker::WorkerHandle>> handles;
  {
    std::lock_guard lk(mu_);
    for (auto it = runs_.lower_bound({id, std::numeric_limits<std::int32_t>::min()}); it != runs_.end() && it->first.first == id; ++it) {
      it->second->cancel = true;
      if (it->second->handle) handles.push_back(it->second->handle);
    }
  }
  for (auto& h : handles) h->terminate(1s);
}

void Scheduler::shutdown(std::chrono::milliseconds timeout) {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
  (void)pool_.retire_where([](const PooledWorker&) { return true; }, "shutdown");
  std::unique_lock lk(mu_);
  if (threads_ > 0)
    spdlog::info("event=shutdown_drain running={} timeout_ms={}", runs_.size(), timeout.count());
  cv_.wait_for(lk, timeout, [&] { return threads_ == 0; });
  if (threads_ > 0) {
    for (auto& [id, r] : runs_) {
      r->shutdown = true;
      if (r->handle) r->handle->terminate(1s);
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
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto job = store_.get(id);
    if (!job || jobs::is_terminal(job->state)) return job;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return job;
    std::unique_lock lk(mu_);
    if (stopping_ && threads_ == 0) return job;
    done_cv_.wait_for(lk, std::min<std::chrono::steady_clock::duration>(deadline - now, 1s));
  }
}

}  // namespace soroka::service

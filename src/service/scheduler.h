// Scheduler: claims queued jobs, reserves memory for each, runs it in a worker, records the end.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "config/settings.h"
#include "jobs/job_store.h"
#include "oomguard/budget.h"
#include "oomguard/levels.h"
#include "service/job_outcome.h"
#include "service/metrics.h"
#include "service/pressure_policy.h"
#include "service/worker_pool.h"
#include "service/worker_port.h"

namespace soroka::service {

// The configurable values come from Settings (scheduler_params below); the rest are fixed.
struct SchedulerParams {
  jobs::LeaseOwner owner;    // this service: node and pid
  std::string results_dir;   // <state>/results
  std::uint64_t worker_memory = 0;      // worker.memory_per_job: a worker of a model with no figure
  std::uint64_t worker_max_memory = 0;  // cap on any worker's limit; 0: none
  std::chrono::milliseconds worker_timeout{0};  // per job, then retried; 0: none
  std::chrono::milliseconds stall_timeout{0};   // silent this long with a job: killed; 0: off
  std::chrono::milliseconds idle_ttl{0};        // warm workers live this long idle; 0: one job each
  // A worker of `model` before any audio (process + model + working set), from the engine's
  // figures; null or 0 for a model: worker_memory.
  std::function<std::uint64_t(std::string_view model)> model_bytes;
  // A lease is renewed every lease/4; a service that died is noticed at restart through its
  // pid, another node's only when the lease runs out, so one minute bounds that wait.
  std::chrono::milliseconds lease{std::chrono::minutes(1)};
  std::chrono::milliseconds shed_grace{std::chrono::seconds(2)};  // critical: shed, then stop one
};
SchedulerParams scheduler_params(const ServiceSettings& s);

// Thread-safe. How many jobs run at once is what the budget admits: each job reserves its
// estimate (job_sizing.h) before its worker starts, and the worker's limit is that reservation,
// so an underestimate kills the worker, not us. Workers stay warm between jobs, holding their
// model and reservation, until idle_ttl, until memory is short (warning ends them first), or
// until a job of another model needs the room. How a run's end maps to the store is
// job_outcome.h; what memory levels do is pressure_policy.h; workers are reached through
// worker_port.h, so all of it is tested with fake workers.
class Scheduler {
 public:
  Scheduler(jobs::JobQueue& store, oomguard::MemoryBudget& budget, WorkerLauncher& launcher,
            Metrics& metrics, SchedulerParams params);
  ~Scheduler();  // shutdown(0) if not done

  void start();
  void wake();  // a job was queued
  // The memory level changed (a Monitor listener): warning pauses the budget and ends idle
  // workers; critical also sheds caches, then stops the newest worker every shed_grace while
  // it lasts (its job re-queued without using an attempt).
  void on_level(oomguard::Level level);
  // DELETE of a running job: stops its worker; the job ends cancelled.
  void cancel_running(const std::string& id);  // every run of the job this service has
  // Stops claiming; waits up to `timeout` for running jobs, then stops the rest and gives
  // their jobs back to the queue.
  void shutdown(std::chrono::milliseconds timeout);
  // Waits until the job is finished (or `timeout`); returns it as it is then.
  Result<jobs::Job> wait_finished(const std::string& id, std::chrono::milliseconds timeout);
  // Waits until some job finishes, or `timeout`: for one thread waiting on many jobs.
  void wait_any_finished(std::chrono::milliseconds timeout);
  std::size_t running() const;  // runs that hold a worker (or are starting one), stale ones too
  std::size_t idle_workers() const;
  // The job is claimed but waits for memory (its reservation) before its worker starts.
  bool waiting_for_memory(const std::string& id) const;
  void set_limits(std::uint64_t worker_memory, std::uint64_t worker_max_memory,
                  std::chrono::milliseconds idle_ttl);

 private:
  struct Run;
  struct GiveUp;
  using RunPtr = std::shared_ptr<Run>;
  // The dispatcher: claim, size, find a worker or the memory for one, hand over to a runner.
  void dispatch_loop();
  bool wait_for_work();
  RunPtr claim();
  bool size(Run& run);
  bool acquire_worker(Run& run);
  bool still_wanted(Run& run, std::chrono::steady_clock::time_point& last_beat);
  void launch(RunPtr run);
  // A runner thread: one job on one worker.
  void run_job(RunPtr run);
  bool ensure_worker(Run& run);
  void converse(Run& run);
  bool take_lines(Run& run);
  void watch(Run& run, std::chrono::steady_clock::time_point now);
  void conclude(Run& run);
  void record(Run& run, const Outcome& o, std::uint64_t peak);
  void count_failure(const Run& run, const jobs::Failure& f);
  void hand_back(RunPtr run);
  // Memory pressure, on its own thread: level changes and, while critical, a tick.
  void pressure_loop();
  void apply_pressure(oomguard::Level level);
  // Gives a claimed job up before it ran: failed for good, cancelled or back to the queue.
  void give_up(Run& run, const GiveUp& why);
  // Runs `write`, an end-of-run store write, until it commits or fails for a reason other than
  // storage, while the run's lease holds and the scheduler is not stopping. False when it never
  // committed: the job stays running in the store until recover() takes it after its lease.
  bool write_end(Run& run, const char* op, const std::function<Result<void>()>& write);
  bool stopping() const;

  jobs::JobQueue& store_;
  oomguard::MemoryBudget& budget_;
  Metrics& metrics_;
  SchedulerParams params_;
  WorkerPool pool_;

  mutable std::mutex mu_;
  std::condition_variable cv_;       // dispatcher wake-ups and run ends
  std::condition_variable done_cv_;  // a job finished (sync waiters)
  std::condition_variable level_cv_;  // the pressure thread's wake-ups
  bool stopping_ = false;
  bool woken_ = false;
  bool started_ = false;
  // Keyed by job id and run number: a run whose lease was lost (recovered after a store
  // failure) may still be ending while the job's next run has started.
  std::map<std::pair<std::string, std::int32_t>, RunPtr> runs_;
  std::string waiting_id_;                      // the claimed job waiting for its reservation
  std::map<std::string, std::uint64_t> peaks_;  // per model, the largest peak seen
  std::size_t threads_ = 0;                     // run_job threads alive
  oomguard::Level level_ = oomguard::Level::normal;
  bool level_changed_ = false;
  PressurePolicy policy_;
  std::thread dispatcher_;
  std::thread pressure_;
};

}  // namespace soroka::service

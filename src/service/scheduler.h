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

#include "jobs/job_store.h"
#include "oomguard/budget.h"
#include "oomguard/levels.h"
#include "service/metrics.h"
#include "service/worker_pool.h"
#include "worker/supervisor.h"

namespace soroka::service {

// Starts the failure reason of a job whose input the worker could not transcribe (a user
// error, not retried); the API answers such a synchronous request with 400.
inline constexpr std::string_view kInvalidInputPrefix = "invalid input: ";

struct SchedulerParams {
  jobs::LeaseOwner owner;         // this service: node and pid
  std::string soroka_exe;         // the binary that has `worker`
  std::string results_dir;        // <state>/results
  std::string uploads_dir;        // <state>/uploads (what a sandboxed worker may read)
  bool sandbox = true;            // worker.sandbox: see worker/sandbox.h
  std::vector<std::string> worker_args;  // more flags for every `soroka worker` (from Settings)
  std::uint64_t worker_memory = 256ull << 20;  // reservation of a pocketsphinx worker
  std::uint64_t worker_max_memory = 0;         // cap on any worker's limit; 0: none
  std::chrono::milliseconds worker_timeout{std::chrono::hours(2)};  // then retried
  // A worker that sends no line for this long while it has a job is killed and the job
  // retried (settings.h: worker.stall_timeout_ms says why 2 min). 0: off.
  std::chrono::milliseconds stall_timeout{std::chrono::minutes(2)};
  // A lease is renewed every lease/4; a service that died is noticed at restart through its
  // pid, another node's only when the lease runs out, so one minute bounds that wait.
  std::chrono::milliseconds lease{std::chrono::minutes(1)};
  std::chrono::milliseconds shed_grace{std::chrono::seconds(2)};  // critical: shed, then stop one
  // A worker keeps its model loaded (and its reservation) this long after its last job, so
  // the next job of that model starts without a load; 0 ends workers after every job.
  std::chrono::milliseconds idle_ttl{std::chrono::minutes(5)};
};

// Thread-safe. How many jobs run at once is what the budget admits: each job reserves its
// estimate (model + working memory, corrected by peaks seen) before its worker starts, and the
// worker's cgroup limit is that reservation, so an underestimate kills the worker, not us.
// Workers stay warm between jobs, holding their model and reservation, until idle_ttl, until
// memory is short (warning ends them first), or until a job of another model needs the room.
class Scheduler {
 public:
  Scheduler(jobs::JobQueue& store, oomguard::MemoryBudget& budget,
            worker::WorkerSupervisor& supervisor, Metrics& metrics, SchedulerParams params);
  ~Scheduler();  // shutdown(0) if not done

  void start();
  void wake();  // a job was queued
  // Called on every memory sample: warning pauses the budget; critical sheds caches, then
  // stops the newest worker (its job re-queued without using an attempt).
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

  // The reservation for a job: pure, exposed for tests.
  static std::uint64_t estimate_bytes(const std::string& model, double duration_s,
                                      std::uint64_t worker_memory, std::uint64_t observed_peak);

 private:
  struct Run;
  void dispatch_loop();
  bool ensure_worker(Run& run);
  void run_job(std::shared_ptr<Run> run);
  void finish(Run& run, const worker::WorkerExit& exit);
  // Runs `write`, an end-of-run store write, until it commits or fails for a reason other than
  // storage, while the run's lease holds and the scheduler is not stopping. False when it never
  // committed: the job stays running in the store until recover() takes it after its lease.
  bool write_end(Run& run, const char* op, const std::function<Result<void>()>& write);
  std::uint64_t learned_peak(const std::string& model) const;

  jobs::JobQueue& store_;
  oomguard::MemoryBudget& budget_;
  Metrics& metrics_;
  SchedulerParams params_;
  WorkerPool pool_;

  mutable std::mutex mu_;
  std::condition_variable cv_;       // dispatcher wake-ups and run ends
  std::condition_variable done_cv_;  // a job finished (sync waiters)
  bool stopping_ = false;
  bool woken_ = false;
  bool started_ = false;
  // Keyed by job id and run number: a run whose lease was lost (recovered after a store
  // failure) may still be ending while the job's next run has started.
  std::map<std::pair<std::string, std::int32_t>, std::shared_ptr<Run>> runs_;
  std::string waiting_id_;                      // the claimed job waiting for its reservation
  std::map<std::string, std::uint64_t> peaks_;  // per model, the largest peak seen
  std::size_t threads_ = 0;                      // run_job threads alive
  std::chrono::steady_clock::time_point critical_since_{};
  bool shed_sent_ = false;
  std::chrono::steady_clock::time_point last_preempt_{};
  std::thread dispatcher_;
};

}  // namespace soroka::service

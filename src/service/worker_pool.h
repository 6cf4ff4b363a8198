// WorkerPool: warm workers kept between jobs, each holding a model, a memory limit and its reservation.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "oomguard/budget.h"
#include "service/worker_port.h"
#include "util/result.h"

namespace soroka::service {

// A worker and what it holds. The reservation is what its memory limit promises; it is given
// back only once the process is gone (WorkerPool::retire).
struct PooledWorker {
  std::string model;
  std::uint64_t limit = 0;
  oomguard::Reservation reservation;
  std::shared_ptr<WorkerConn> conn;  // null until started
  std::chrono::steady_clock::time_point idle_since{};
  int jobs = 0;  // jobs it has been given
};

// Thread-safe. Holds the idle workers; a worker running a job belongs to that job's runner.
class WorkerPool {
 public:
  explicit WorkerPool(WorkerLauncher& launcher) : launcher_(launcher) {}

  // Starts `w`'s worker (model w.model, limit w.limit); `label` names it in logs.
  Result<void> start(PooledWorker& w, const std::string& label);

  // An idle worker of `model` whose limit covers `need` (shrunk to `need` where the kernel
  // allows), else one that can grow to `need` now; nullptr if none. Workers that died while
  // idle are dropped on the way.
  std::unique_ptr<PooledWorker> take(const std::string& model, std::uint64_t need);
  // A worker whose job ended, alive and reusable: idle from now on.
  void put(std::unique_ptr<PooledWorker> w);
  // Ends the longest-idle worker; false if none is idle.
  bool retire_oldest(const char* why);
  // Ends the idle workers `pred` selects; returns how many.
  std::size_t retire_where(const std::function<bool(const PooledWorker&)>& pred, const char* why);
  std::size_t idle() const;

  // Ends a worker and waits until it is gone, so that its reservation is given back only once
  // its memory really is: end of input asks it to exit; after a second it is killed.
  static void retire(std::unique_ptr<PooledWorker> w, const char* why);

 private:
  WorkerLauncher& launcher_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<PooledWorker>> idle_;  // longest idle first
};

}  // namespace soroka::service

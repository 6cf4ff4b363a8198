// Runner: what the job service needs of whatever runs jobs (the scheduler; a fake in tests).
#pragma once

#include <chrono>
#include <memory>
#include <string>

namespace soroka::service {
class Scheduler;
}

namespace soroka::frontend {

// Thread-safe in every implementation.
class Runner {
 public:
  virtual ~Runner() = default;
  virtual void wake() = 0;  // a job was queued
  // A running job's cancel was recorded: stop its worker now (the job then ends cancelled).
  virtual void cancel_running(const std::string& id) = 0;
  // Returns when some job finishes, or after `timeout`.
  virtual void wait_any_finished(std::chrono::milliseconds timeout) = 0;
  // The job is claimed but its worker waits for the memory it reserves.
  virtual bool waiting_for_memory(const std::string& id) const = 0;
};

// service::Scheduler as a Runner; the scheduler must outlive it.
std::unique_ptr<Runner> scheduler_runner(service::Scheduler& scheduler);

}  // namespace soroka::frontend

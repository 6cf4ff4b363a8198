// SyncWaiter: the synchronous POST /v1/audio/transcriptions waiting for its job, one thread
// for all such requests; a client that hangs up has its job cancelled.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "frontend/job_service.h"
#include "http/server.h"

namespace soroka::api {

class SyncWaiter {
 public:
  explicit SyncWaiter(frontend::JobService& jobs);
  ~SyncWaiter();  // answers every request still waiting with 503 and stops the thread
  SyncWaiter(const SyncWaiter&) = delete;
  SyncWaiter& operator=(const SyncWaiter&) = delete;

  // Answers `reply` when the job ends (sync_answer), or at `deadline` with 504.
  void add(std::string id, frontend::Caller caller, std::shared_ptr<http::Reply> reply,
           service::ResponseFormat format, std::chrono::steady_clock::time_point deadline);
  std::size_t waiting() const;

 private:
  struct Waiter {
    std::string id;
    frontend::Caller caller;
    std::shared_ptr<http::Reply> reply;
    service::ResponseFormat format;
    std::chrono::steady_clock::time_point deadline;
  };
  struct Cancel {
    std::string id;
    frontend::Caller caller;
  };
  void loop();
  // Looks at each job once; returns the ids of those answered.
  std::vector<std::string> answer_finished(const std::vector<Waiter>& ws);

  frontend::JobService& jobs_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Waiter> waiters_;
  std::vector<Cancel> cancels_;  // jobs whose client hung up
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace soroka::api

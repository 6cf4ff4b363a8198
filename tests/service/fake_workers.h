// Scripted fake workers behind service/worker_port.h: the scheduler's decisions without processes.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "service/worker_port.h"
#include "util/units.h"
#include "worker/protocol.h"

namespace soroka::test {

// What a fake worker does with one job.
struct Script {
  enum class End { done, fail, die, hang };
  End end = End::done;
  std::chrono::milliseconds work{20};  // before the end (hang: until stopped)
  FailureKind kind = FailureKind::invalid_input;             // fail
  worker::ExitKind exit_kind = worker::ExitKind::oom_killed;  // die
  std::uint64_t peak = 50 * kMiB;
};

// Thread-safe. Records what the scheduler asked of its workers.
class FakeLauncher final : public service::WorkerLauncher {
 public:
  struct Launch {
    std::string model;
    std::uint64_t limit;
  };
  struct Request {
    worker::JobRequest job;
    pid_t worker;
    std::uint64_t limit;  // the worker's limit when it got the job
  };
  using ScriptFn = std::function<Script(const worker::JobRequest&)>;

  explicit FakeLauncher(ScriptFn script) : script_(std::move(script)) {}
  Result<std::shared_ptr<service::WorkerConn>> launch(const std::string& model, std::uint64_t limit,
                                                      const std::string& label) override;

  std::vector<Launch> launches() const {
    std::lock_guard lk(mu_);
    return launches_;
  }
  std::vector<Request> requests() const {
    std::lock_guard lk(mu_);
    return requests_;
  }
  int sheds() const {
    std::lock_guard lk(mu_);
    return sheds_;
  }
  int max_busy() const {  // jobs running at once, at most
    std::lock_guard lk(mu_);
    return max_busy_;
  }

 private:
  friend class FakeConn;
  mutable std::mutex mu_;
  ScriptFn script_;
  std::vector<Launch> launches_;
  std::vector<Request> requests_;
  int sheds_ = 0, busy_ = 0, max_busy_ = 0;
  pid_t next_pid_ = 1000;
};

class FakeConn final : public service::WorkerConn {
 public:
  FakeConn(FakeLauncher& l, pid_t pid, std::uint64_t limit) : l_(l), pid_(pid), limit_(limit) {}

  pid_t pid() const override { return pid_; }
  std::string cgroup() const override { return ""; }
  bool running() const override {
    std::lock_guard lk(mu_);
    return !exit_;
  }
  Result<void> send(std::string_view line, std::chrono::milliseconds) override {
    auto req = worker::decode_job_request(line);
    if (!req) return std::unexpected(req.error());
    std::lock_guard lk(mu_);
    if (exit_) return fail("worker gone", EPIPE);
    job_ = *req;
    script_ = l_.script_(*req);
    until_ = std::chrono::steady_clock::now() + script_.work;
    std::lock_guard ll(l_.mu_);
    l_.requests_.push_back({*req, pid_, limit_});
    l_.max_busy_ = std::max(l_.max_busy_, ++l_.busy_);
    return {};
  }
  Result<std::string> receive(std::chrono::milliseconds timeout) override {
    std::unique_lock lk(mu_);
    auto give_up_at = std::chrono::steady_clock::now() + timeout;
    while (true) {
      if (exit_) return fail("closed", EPIPE);
      const bool hang = job_ && script_.end == Script::End::hang;
      auto wake = job_ && !hang ? std::min(give_up_at, until_) : give_up_at;
      if (job_ && !hang && std::chrono::steady_clock::now() >= until_) return finish_job(lk);
      if (std::chrono::steady_clock::now() >= give_up_at) return fail("timeout", ETIMEDOUT);
      cv_.wait_until(lk, wake);
    }
  }
  void shed() override {
    std::lock_guard ll(l_.mu_);
    ++l_.sheds_;
  }
  void terminate(std::chrono::milliseconds) override { end(worker::ExitKind::cancelled, 0); }
  Result<void> resize(std::uint64_t limit) override {
    std::lock_guard lk(mu_);
    limit_ = limit;
    return {};
  }
  void close_input() override { end(worker::ExitKind::exited, 0); }
  worker::WorkerExit wait() override {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return exit_.has_value(); });
    return *exit_;
  }
  std::optional<worker::WorkerExit> wait_for(std::chrono::milliseconds t) override {
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, t, [&] { return exit_.has_value(); });
    return exit_;
  }

 private:
  void end(worker::ExitKind kind, int code) {
    std::lock_guard lk(mu_);
    if (exit_) return;
    worker::WorkerExit x;
    x.kind = kind;
    x.exit_code = code;
    x.peak_bytes = job_ ? script_.peak : 0;
    exit_ = x;
    if (job_) job_done();
    cv_.notify_all();
  }
  void job_done() {
    job_.reset();
    std::lock_guard ll(l_.mu_);
    --l_.busy_;
  }
  Result<std::string> finish_job(std::unique_lock<std::mutex>&) {
    const worker::JobRequest job = *job_;
    switch (script_.end) {
      case Script::End::done: {
        std::ofstream(job.result) << R"({"text":"fake"})";
        job_done();
        return worker::encode_done(job.id, script_.peak);
      }
      case Script::End::fail: {
        job_done();
        if (!is_user_error(script_.kind)) exit_ = worker::WorkerExit{.kind = worker::ExitKind::exited, .exit_code = worker::kExitFailure};
        cv_.notify_all();
        return worker::encode_job_error(job.id, "scripted failure", script_.kind);
      }
      default: {  // die
        worker::WorkerExit x;
        x.kind = script_.exit_kind;
        x.signal = 9;
        x.peak_bytes = script_.peak;
        x.detail = "scripted death";
        exit_ = x;
        job_done();
        cv_.notify_all();
        return fail("closed", EPIPE);
      }
    }
  }

  FakeLauncher& l_;
  const pid_t pid_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t limit_;
  std::optional<worker::JobRequest> job_;
  Script script_;
  std::chrono::steady_clock::time_point until_{};
  std::optional<worker::WorkerExit> exit_;
};

inline Result<std::shared_ptr<service::WorkerConn>> FakeLauncher::launch(const std::string& model,
                                                                        std::uint64_t limit,
                                                                        const std::string&) {
  std::lock_guard lk(mu_);
  launches_.push_back({model, limit});
  return std::make_shared<FakeConn>(*this, next_pid_++, limit);
}

}  // namespace soroka::test

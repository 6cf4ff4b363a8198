// Runner: what the job service needs of whatever runs jobs (the scheduler; a fake in tests).
#include "frontend/runner.h"

#include "service/scheduler.h"

namespace soroka::frontend {

namespace {

class SchedulerRunner final : public Runner {
 public:
  explicit SchedulerRunner(service::Scheduler& s) : s_(s) {}
  void wake() override { s_.wake(); }
  void cancel_running(const std::string& id) override { s_.cancel_running(id); }
  void wait_any_finished(std::chrono::milliseconds timeout) override {
    s_.wait_any_finished(timeout);
  }
  bool waiting_for_memory(const std::string& id) const override {
    return s_.waiting_for_memory(id);
  }

 private:
  service::Scheduler& s_;
};

}  // namespace

std::unique_ptr<Runner> scheduler_runner(service::Scheduler& scheduler) {
  return std::make_unique<SchedulerRunner>(scheduler);
}

}  // namespace soroka::frontend

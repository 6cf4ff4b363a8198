// The scheduler's decisions with scripted fake workers: queue order, memory waiting, preemption,
// retries with degraded settings, warm reuse, cancellation, jobs too big for the budget.
#include <unistd.h>

#include <filesystem>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "jobs/job_store.h"
#include "oomguard/budget.h"
#include "service/fake_workers.h"
#include "service/job_params.h"
#include "service/metrics.h"
#include "service/scheduler.h"
#include "service/serve_instance.h"

namespace soroka::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using jobs::JobState;

constexpr std::uint64_t kWorker = 100 * kMiB;  // every fake model's worker before audio

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("soroka-sched-");
    ASSERT_FALSE(dir_.empty());
    fs::create_directories(dir_ + "/results");
    auto s = jobs::SqliteJobStore::open(jobs::default_sqlite_params(dir_ + "/jobs.sqlite"));
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
  }
  void TearDown() override {
    sched_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // A scheduler whose budget holds `workers` workers of kWorker.
  void start(double workers, FakeLauncher::ScriptFn script,
             std::chrono::milliseconds idle_ttl = 0ms) {
    budget_ = std::make_unique<oomguard::MemoryBudget>(static_cast<std::uint64_t>(workers * kWorker));
    launcher_ = std::make_unique<FakeLauncher>(std::move(script));
    auto sp = service::scheduler_params(ServiceSettings{});
    sp.owner = {"test-node", static_cast<std::int64_t>(::getpid())};
    sp.results_dir = dir_ + "/results";
    sp.worker_memory = kWorker;
    sp.idle_ttl = idle_ttl;
    sp.shed_grace = 100ms;
    sched_ = std::make_unique<service::Scheduler>(*store_, *budget_, *launcher_, metrics_, sp);
  }
  void go() {
    sched_->start();
    sched_->wake();
  }

  std::string submit(const std::string& model = "fake", std::int32_t priority = 0,
                     const std::string& owner = "", std::int32_t max_running = 0) {
    service::JobParams p;
    p.model = model;
    jobs::JobSpec spec;
    spec.params = service::to_json(p);
    spec.input_path = dir_ + "/in-" + std::to_string(++inputs_) + ".wav";
    std::ofstream(spec.input_path) << "audio";
    spec.priority = priority;
    spec.submitter = owner;
    spec.max_running_per_owner = max_running;
    auto id = store_->submit(spec);
    EXPECT_TRUE(id) << id.error().message;
    if (sched_) sched_->wake();
    return id ? *id : "";
  }

  jobs::Job finished(const std::string& id, std::chrono::milliseconds within = 10s) {
    auto j = sched_->wait_finished(id, within);
    EXPECT_TRUE(j) << j.error().message;
    return j ? *j : jobs::Job{};
  }

  // Waits until `pred` holds (the scheduler works on its own threads).
  static bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds within = 5s) {
    auto until = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < until) {
      if (pred()) return true;
      std::this_thread::sleep_for(5ms);
    }
    return pred();
  }

  std::string dir_;
  int inputs_ = 0;
  std::unique_ptr<jobs::SqliteJobStore> store_;
  std::unique_ptr<oomguard::MemoryBudget> budget_;
  std::unique_ptr<FakeLauncher> launcher_;
  service::Metrics metrics_;
  std::unique_ptr<service::Scheduler> sched_;
};

TEST_F(SchedulerTest, HigherPriorityFirstThenOldestFirst) {
  start(1.5, [](const worker::JobRequest&) { return Script{}; });
  const auto a = submit("fake", 0), b = submit("fake", 5), c = submit("fake", 0);
  go();
  for (const auto& id : {a, b, c}) EXPECT_EQ(finished(id).state, JobState::succeeded);
  auto reqs = launcher_->requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].job.id, b);
  EXPECT_EQ(reqs[1].job.id, a);
  EXPECT_EQ(reqs[2].job.id, c);
}

// Room for three workers, but each owner may run one job: a's second and third wait while b's
// and c's (queued after them) start; d has no limit and runs both of its jobs at once.
TEST_F(SchedulerTest, AnOwnerAtItsRunningLimitWaitsWithoutHoldingUpOthers) {
  // 1 s of work: the look at a2 below comes ~100 ms after a1 started, with room to spare on a
  // loaded machine (300 ms once failed in a full suite run with other builds going).
  start(3.5, [](const worker::JobRequest&) { return Script{.work = 1000ms}; });
  const auto a1 = submit("fake", 0, "tg:1", 1), a2 = submit("fake", 0, "tg:1", 1),
             a3 = submit("fake", 0, "tg:1", 1), b1 = submit("fake", 0, "http:b", 1);
  go();
  ASSERT_TRUE(eventually([&] { return launcher_->requests().size() >= 2; }));
  std::this_thread::sleep_for(100ms);  // a2 could have started by now, if it were allowed
  EXPECT_EQ(store_->get(a2)->state, JobState::queued);
  EXPECT_EQ(store_->get(b1)->state, JobState::running);
  for (const auto& id : {a1, a2, a3, b1}) EXPECT_EQ(finished(id).state, JobState::succeeded);
  std::vector<std::string> order;
  for (const auto& r : launcher_->requests()) order.push_back(r.job.id);
  // a1 and b1 start together, each on its own thread: either may reach the launcher first.
  ASSERT_EQ(order.size(), 4u);
  EXPECT_EQ((std::set<std::string>{order[0], order[1]}), (std::set<std::string>{a1, b1}));
  EXPECT_EQ(order[2], a2);
  EXPECT_EQ(order[3], a3);
  EXPECT_EQ(launcher_->max_busy(), 2);  // a's one and b's one; never a's two
  const auto d1 = submit("fake", 0, "http:d", 0), d2 = submit("fake", 0, "http:d", 0);
  EXPECT_TRUE(eventually([&] {
    return store_->get(d1)->state == JobState::running && store_->get(d2)->state == JobState::running;
  }));
  EXPECT_EQ(finished(d1).state, JobState::succeeded);
  EXPECT_EQ(finished(d2).state, JobState::succeeded);
}

TEST_F(SchedulerTest, AJobWaitsForMemoryUntilTheRunningOneGivesItBack) {
  start(1.5, [](const worker::JobRequest&) { return Script{.work = 300ms}; });
  const auto a = submit(), b = submit();
  go();
  EXPECT_TRUE(eventually([&] { return sched_->waiting_for_memory(b); }));
  EXPECT_EQ(store_->get(b)->state, JobState::running);  // claimed, holding no memory yet
  EXPECT_EQ(finished(a).state, JobState::succeeded);
  EXPECT_EQ(finished(b).state, JobState::succeeded);
  EXPECT_EQ(launcher_->max_busy(), 1);
  EXPECT_FALSE(sched_->waiting_for_memory(b));
  // No idle_ttl: every worker ends once its job is recorded, and gives its memory back.
  EXPECT_TRUE(eventually([&] { return budget_->reserved() == 0; }));
}

TEST_F(SchedulerTest, TwoFitTwoRunAtOnce) {
  start(2.5, [](const worker::JobRequest&) { return Script{.work = 300ms}; });
  const auto a = submit(), b = submit();
  go();
  EXPECT_EQ(finished(a).state, JobState::succeeded);
  EXPECT_EQ(finished(b).state, JobState::succeeded);
  EXPECT_EQ(launcher_->max_busy(), 2);
}

TEST_F(SchedulerTest, AnOomKilledRunIsRetriedCheaperWithALargerLimit) {
  start(10, [](const worker::JobRequest& r) {
    if (r.degrade == 0) return Script{.end = Script::End::die, .exit_kind = worker::ExitKind::oom_killed};
    return Script{};
  });
  const auto id = submit();
  go();
  auto job = finished(id);
  EXPECT_EQ(job.state, JobState::succeeded);
  EXPECT_EQ(job.attempts, 1);
  EXPECT_EQ(job.degrade, 1);
  auto reqs = launcher_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].job.degrade, 0);
  EXPECT_EQ(reqs[1].job.degrade, 1);
  // The killed run's peak is its limit; the next run gets a quarter more.
  EXPECT_EQ(reqs[1].limit, reqs[0].limit + reqs[0].limit / 4);
  EXPECT_NE(reqs[0].worker, reqs[1].worker);  // a fresh worker
  EXPECT_EQ(metrics_.worker_oom_kills.load(), 1u);
}

TEST_F(SchedulerTest, ACrashIsRetriedAndAFailedAttemptLimitEndsTheJob) {
  start(10, [](const worker::JobRequest&) {
    return Script{.end = Script::End::die, .exit_kind = worker::ExitKind::crashed};
  });
  const auto id = submit();
  go();
  auto job = finished(id);
  EXPECT_EQ(job.state, JobState::failed);
  EXPECT_EQ(job.attempts, 3);  // ServiceSettings' max_attempts
  EXPECT_EQ(launcher_->requests().size(), 3u);
  EXPECT_NE(job.last_error.find("worker crashed"), std::string::npos) << job.last_error;
  EXPECT_FALSE(fs::exists(job.spec.input_path));  // a finished job's upload is deleted
}

TEST_F(SchedulerTest, AnInputErrorIsNotRetriedAndTheWorkerStaysWarm) {
  start(10, [](const worker::JobRequest& r) {
    if (r.input.ends_with("in-1.wav"))
      return Script{.end = Script::End::fail, .kind = FailureKind::unsupported_media};
    return Script{};
  }, 1min);
  go();
  auto job = finished(submit());
  EXPECT_EQ(job.state, JobState::failed);
  EXPECT_EQ(job.runs, 1);
  EXPECT_EQ(finished(submit()).state, JobState::succeeded);
  EXPECT_EQ(launcher_->launches().size(), 1u);  // the same worker did both
}

TEST_F(SchedulerTest, WarmWorkersAreReusedAndGiveWayToAnotherModel) {
  start(1.5, [](const worker::JobRequest&) { return Script{}; }, 1min);
  go();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(finished(submit("fake")).state, JobState::succeeded);
  EXPECT_EQ(launcher_->launches().size(), 1u);
  EXPECT_EQ(metrics_.worker_reuses.load(), 2u);
  EXPECT_EQ(sched_->idle_workers(), 1u);
  // Room for one worker only: the idle one of "fake" ends so that "other" can start.
  EXPECT_EQ(finished(submit("other")).state, JobState::succeeded);
  auto launches = launcher_->launches();
  ASSERT_EQ(launches.size(), 2u);
  EXPECT_EQ(launches[1].model, "other");
  EXPECT_EQ(sched_->idle_workers(), 1u);
}

TEST_F(SchedulerTest, CriticalMemoryShedsThenPreemptsTheNewestRunWhichIsRequeued) {
  std::atomic<int> runs_of_b{0};
  std::string b;
  start(2.5, [&](const worker::JobRequest& r) {
    if (r.id == b && runs_of_b++ > 0) return Script{};  // its second run completes
    return Script{.end = Script::End::hang};
  });
  const auto a = submit();
  go();
  ASSERT_TRUE(eventually([&] { return launcher_->requests().size() == 1; }));
  b = submit();  // newer: the one to lose
  ASSERT_TRUE(eventually([&] { return launcher_->requests().size() == 2; }));
  sched_->on_level(oomguard::Level::critical);
  EXPECT_TRUE(eventually([&] { return launcher_->sheds() == 2; }));
  EXPECT_TRUE(eventually([&] { return store_->get(b)->state == JobState::queued; }));
  EXPECT_EQ(store_->get(b)->attempts, 0);  // not the job's fault
  EXPECT_EQ(store_->get(a)->state, JobState::running);
  EXPECT_EQ(metrics_.worker_preemptions.load(), 1u);
  // Paused while above normal: the re-queued job waits.
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(store_->get(b)->state, JobState::queued);
  sched_->on_level(oomguard::Level::normal);
  EXPECT_EQ(finished(b).state, JobState::succeeded);
  ASSERT_EQ(store_->cancel(a).value_or(JobState::failed), JobState::running);
  sched_->cancel_running(a);
  EXPECT_EQ(finished(a).state, JobState::cancelled);
}

TEST_F(SchedulerTest, WarningEndsIdleWorkersAndHoldsTheQueue) {
  start(5, [](const worker::JobRequest&) { return Script{}; }, 1min);
  go();
  EXPECT_EQ(finished(submit()).state, JobState::succeeded);
  EXPECT_EQ(sched_->idle_workers(), 1u);
  sched_->on_level(oomguard::Level::warning);
  EXPECT_TRUE(eventually([&] { return sched_->idle_workers() == 0; }));
  EXPECT_TRUE(eventually([&] { return budget_->reserved() == 0; }));
  const auto held = submit();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(store_->get(held)->state, JobState::queued);
  sched_->on_level(oomguard::Level::normal);
  EXPECT_EQ(finished(held).state, JobState::succeeded);
}

TEST_F(SchedulerTest, AJobTooBigForTheBudgetFailsWithoutAWorker) {
  start(0.5, [](const worker::JobRequest&) { return Script{}; });
  const auto id = submit();
  go();
  auto job = finished(id);
  EXPECT_EQ(job.state, JobState::failed);
  EXPECT_NE(job.last_error.find("needs about 100 MiB"), std::string::npos) << job.last_error;
  EXPECT_TRUE(launcher_->launches().empty());
}

TEST_F(SchedulerTest, ShutdownGivesRunningJobsBackToTheQueue) {
  start(3, [](const worker::JobRequest&) { return Script{.end = Script::End::hang}; });
  const auto id = submit();
  go();
  ASSERT_TRUE(eventually([&] { return launcher_->requests().size() == 1; }));
  sched_->shutdown(50ms);
  auto job = store_->get(id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->state, JobState::queued);
  EXPECT_EQ(job->attempts, 0);
  EXPECT_EQ(sched_->running(), 0u);
}

}  // namespace
}  // namespace soroka::test

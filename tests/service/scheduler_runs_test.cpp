// Scheduler runs keyed by job and run number: a run whose lease was lost while its worker still
// ran must not hide the job's next run from running() and from the SIGTERM drain.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "jobs/job_store.h"
#include "oomguard/budget.h"
#include "service/job_params.h"
#include "service/metrics.h"
#include "service/process_worker.h"
#include "service/scheduler.h"
#include "engine/factory.h"
#include "service/serve_instance.h"
#include "support/media_fixtures.h"
#include "worker/supervisor.h"

namespace soroka::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

TEST(SchedulerRuns, ASupersededRunDoesNotHideItsSuccessorFromRunningOrTheDrain) {
  ::setenv("SOROKA_ENABLE_SIM_ENGINE", "1", 1);  // inherited by the workers
  auto speech = short_speech_sample();
  ASSERT_TRUE(speech) << speech.error().message;
  const std::string dir = make_temp_dir("soroka-sched-runs-");
  ASSERT_FALSE(dir.empty());
  fs::create_directories(dir + "/results");
  const std::string input = dir + "/input.wav";
  fs::copy_file(speech->path, input);

  auto store = jobs::SqliteJobStore::open(jobs::default_sqlite_params(dir + "/jobs.sqlite"));
  ASSERT_TRUE(store) << store.error().message;
  auto supervisor = worker::WorkerSupervisor::create({});
  ASSERT_TRUE(supervisor) << supervisor.error().message;
  oomguard::MemoryBudget budget(2ull << 30);
  service::Metrics metrics;
  service::SchedulerParams sp = service::scheduler_params(ServiceSettings{});
  EngineSettings engines;
  engines.simulation = true;  // the sim-* models' own sizes
  sp.model_bytes = [engines](std::string_view m) { return engine::worker_base_bytes(engines, m, 0); };
  sp.owner = {"test-node", static_cast<std::int64_t>(::getpid())};
  sp.results_dir = dir + "/results";
  sp.idle_ttl = 0ms;  // a worker per run: the supervisor's count is the runs' count
  service::ProcessLauncher launcher(**supervisor, metrics, {SOROKA_BINARY, false, "", sp.results_dir, nullptr});
  auto sched = std::make_unique<service::Scheduler>(**store, budget, launcher, metrics, sp);

  service::JobParams params;
  params.model = "sim-slow";  // 30 s: both runs are still working when we look
  jobs::JobSpec spec;
  spec.params = service::to_json(params);
  spec.input_path = input;
  auto id = (*store)->submit(spec);
  ASSERT_TRUE(id) << id.error().message;
  sched->start();
  sched->wake();

  // Run 1 works: its progress reaches the store.
  ASSERT_TRUE(eventually([&] {
    auto j = (*store)->get(*id);
    return j && j->state == jobs::JobState::running && j->progress > 0;
  }, 20s));

  // Its lease is lost as after a store failure: recover() sees it expired (2 min on) and
  // re-queues the job while run 1's worker still runs; the scheduler claims it again.
  auto rec = (*store)->recover(jobs::now_ms() + 2min, {});
  ASSERT_TRUE(rec) << rec.error().message;
  ASSERT_EQ(rec->requeued.size(), 1u);
  sched->wake();
  ASSERT_TRUE(eventually([&] {
    auto j = (*store)->get(*id);
    return j && j->state == jobs::JobState::running && j->runs == 2 && j->progress > 0;
  }, 20s));

  // Run 1 learns at its next progress report (ESTALE) that it lost the lease and stops its
  // worker; run 2's worker is then the only one.
  ASSERT_TRUE(eventually([&] { return (*supervisor)->running() == 1; }, 10s))
      << "workers alive: " << (*supervisor)->running();
  std::this_thread::sleep_for(500ms);  // run 1's thread ends after its worker
  EXPECT_EQ(sched->running(), 1u) << "run 2 is running; run 1's end must not erase it";

  // SIGTERM drain: run 2 is stopped after the timeout and given back, well before the 30 s
  // its job would take.
  const auto t0 = std::chrono::steady_clock::now();
  sched->shutdown(500ms);
  const auto drain = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(drain, 10s) << "the drain waited for a run it did not know about";
  EXPECT_EQ((*supervisor)->running(), 0u);
  auto j = (*store)->get(*id);
  ASSERT_TRUE(j);
  EXPECT_EQ(j->state, jobs::JobState::queued);
  EXPECT_EQ(j->attempts, 0) << j->last_error;
  sched.reset();
  store->reset();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace soroka::test

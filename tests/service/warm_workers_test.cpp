// Warm workers: reuse between jobs, the idle TTL, and what memory pressure does to workers.
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <future>

#include <gtest/gtest.h>

#include "service/serve_instance.h"
#include "support/cgroup_v1.h"
#include "support/media_fixtures.h"

namespace soroka::test {
namespace {

using namespace std::chrono_literals;

// Polls a metric until it equals `want`; returns the last value seen.
std::string await_metric(const ServeInstance& s, const std::string& name, const std::string& want,
                         std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string v;
  while (std::chrono::steady_clock::now() < deadline) {
    v = metric(s, name);
    if (v == want) return v;
    std::this_thread::sleep_for(50ms);
  }
  return v;
}

// These scenarios size a cgroup so that exactly one or two workers fit beside a release-build
// service; a sanitized service uses a few hundred MiB more itself, so they say nothing there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SKIP_UNDER_SANITIZER() \
  GTEST_SKIP() << "cgroup sized for a release-build service; a sanitized one needs far more memory itself"
#else
#define SKIP_UNDER_SANITIZER() (void)0
#endif

TEST(WarmWorkers, OneWorkerRunsSuccessiveJobsOfItsModel) {
  auto speech = speech_sample();
  ASSERT_TRUE(speech) << speech.error().message;
  ServeInstance server;
  for (int i = 0; i < 3; ++i) {
    auto id = server.submit(speech->path.string(), "sim-tiny");
    ASSERT_FALSE(id.empty());
    EXPECT_EQ(server.wait_final(id, 60s)["state"], "succeeded");
  }
  EXPECT_EQ(metric(server, "soroka_worker_starts_total"), "1");
  EXPECT_EQ(metric(server, "soroka_worker_reuses_total"), "2");
  // A job is final in the store before its worker is back in the pool: wait for the pool.
  EXPECT_EQ(await_metric(server, "soroka_workers_idle", "1", 5s), "1");
  EXPECT_EQ(children_of(server.pid()).size(), 1u);
  // Another model needs its own worker; the first one stays warm beside it.
  auto other = server.submit(speech->path.string(), "sim-base");
  EXPECT_EQ(server.wait_final(other, 60s)["state"], "succeeded");
  EXPECT_EQ(metric(server, "soroka_worker_starts_total"), "2");
  EXPECT_EQ(await_metric(server, "soroka_workers_idle", "2", 5s), "2");
}

TEST(WarmWorkers, AnIdleWorkerKilledFromOutsideIsReplacedWithoutCostingAnAttempt) {
  auto speech = speech_sample();
  ASSERT_TRUE(speech);
  ServeInstance server;
  auto first = server.submit(speech->path.string(), "sim-tiny");
  ASSERT_EQ(server.wait_final(first, 60s)["state"], "succeeded");
  auto kids = children_of(server.pid());
  ASSERT_EQ(kids.size(), 1u);
  ASSERT_EQ(::kill(kids[0], SIGKILL), 0);
  std::this_thread::sleep_for(200ms);
  auto second = server.submit(speech->path.string(), "sim-tiny");
  auto j = server.wait_final(second, 60s);
  EXPECT_EQ(j["state"], "succeeded") << j.dump();
  EXPECT_EQ(j["attempts"], 0) << j.dump();
  EXPECT_EQ(metric(server, "soroka_worker_starts_total"), "2");
  EXPECT_EQ(metric(server, "soroka_worker_crashes_total"), "0");
}

TEST(WarmWorkers, RealEngineGivesTheSameTranscriptWarmAsCold) {
  auto speech = speech_sample();
  ASSERT_TRUE(speech);
  ServeInstance server;
  std::vector<std::string> texts;
  for (int i = 0; i < 2; ++i) {
    auto r = server.client().Post("/v1/audio/transcriptions",
                                  httplib::MultipartFormDataItems{{"file", ServeInstance::read_all(speech->path), "s.wav", ""}});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    texts.push_back(nlohmann::json::parse(r->body).value("text", ""));
  }
  EXPECT_FALSE(texts[0].empty());
  EXPECT_EQ(texts[0], texts[1]) << "the second job ran on the warm worker";
  EXPECT_EQ(metric(server, "soroka_worker_starts_total"), "1");
}

TEST(WarmWorkers, IdleWorkerEndsAfterTheTtl) {
  auto speech = speech_sample();
  ASSERT_TRUE(speech);
  ServeInstance server({"SOROKA_WORKER_IDLE_TTL_MS=300"});
  auto id = server.submit(speech->path.string(), "sim-tiny");
  ASSERT_EQ(server.wait_final(id, 60s)["state"], "succeeded");
  EXPECT_EQ(await_metric(server, "soroka_workers_idle", "0", 5s), "0");
  // The gauge drops as the worker is told to go; the process is gone a moment later.
  for (int i = 0; i < 100 && !children_of(server.pid()).empty(); ++i) std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(children_of(server.pid()).empty());
  // The next job starts a fresh worker.
  auto next = server.submit(speech->path.string(), "sim-tiny");
  EXPECT_EQ(server.wait_final(next, 60s)["state"], "succeeded");
  EXPECT_EQ(metric(server, "soroka_worker_starts_total"), "2");
}

TEST(WarmWorkers, ZeroTtlMeansAWorkerPerJob) {
  auto speech = speech_sample();
  ASSERT_TRUE(speech);
  ServeInstance server({"SOROKA_WORKER_IDLE_TTL_MS=0"});
  for (int i = 0; i < 2; ++i) {
    auto id = server.submit(speech->path.string(), "sim-tiny");
    ASSERT_EQ(server.wait_final(id, 60s)["state"], "succeeded");
  }
  EXPECT_EQ(metric(server, "soroka_worker_starts_total"), "2");
  EXPECT_EQ(metric(server, "soroka_worker_reuses_total"), "0");
  EXPECT_EQ(metric(server, "soroka_workers_idle"), "0");
}

// In an 800 MiB cgroup the budget (~540 MiB) holds one sim-tiny worker (~355 MiB), not two:
// the second job waits for memory, says so, and then runs on the worker the first one frees.
TEST(WarmWorkers, AJobWaitingForMemorySaysSoAndGetsTheWorkerThatFreesUp) {
  std::string why;
  ASSERT_TRUE(v1_memory_available(&why)) << "cgroup v1 memory is needed: " << why;
  auto cg = V1Cgroup::create(800ull << 20, &why);
  ASSERT_TRUE(cg) << why;
  auto speech = speech_sample();
  ASSERT_TRUE(speech);
  ServeInstance server({}, {}, cg->dir() + "/cgroup.procs");
  auto first = server.submit(speech->path.string(), "sim-tiny");
  auto second = server.submit(speech->path.string(), "sim-tiny");
  ASSERT_FALSE(first.empty());
  ASSERT_FALSE(second.empty());
  bool seen_waiting = false;
  nlohmann::json j;
  for (int i = 0; i < 1000 && !seen_waiting; ++i) {
    j = server.job(second);
    seen_waiting = j.value("waiting_for", "") == "memory";
    if (j.value("state", "") == "succeeded") break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(seen_waiting) << j.dump();
  EXPECT_EQ(j["state"], "running") << "claimed while it waits";
  EXPECT_EQ(server.wait_final(first, 60s)["state"], "succeeded");
  auto done = server.wait_final(second, 60s);
  EXPECT_EQ(done["state"], "succeeded") << done.dump();
  EXPECT_FALSE(done.contains("waiting_for"));
  EXPECT_EQ(metric(server, "soroka_worker_starts_total"), "1");
  EXPECT_EQ(metric(server, "soroka_worker_reuses_total"), "1");
  EXPECT_EQ(cg->oom_kills(), 0u);
  server.stop(SIGTERM, 10s);
}

// 700 MiB: a budget of ~440 MiB. The first pocketsphinx job reserves the configured 256 MiB;
// its peak (~140 MiB) then lowers the estimate to ~210 MiB, and the warm worker is shrunk to
// it when reused, so that a second worker fits beside it: two jobs run at once.
TEST(WarmWorkers, AWarmWorkerShrinksToTheLearnedEstimateSoTwoFit) {
  SKIP_UNDER_SANITIZER();
  std::string why;
  ASSERT_TRUE(v1_memory_available(&why)) << "cgroup v1 memory is needed: " << why;
  auto cg = V1Cgroup::create(700ull << 20, &why);
  ASSERT_TRUE(cg) << why;
  auto speech = speech_sample();
  ASSERT_TRUE(speech);
  ServeInstance server({}, {}, cg->dir() + "/cgroup.procs");
  auto sync = [&] {
    auto r = server.client().Post("/v1/audio/transcriptions",
                                  httplib::MultipartFormDataItems{{"file", ServeInstance::read_all(speech->path), "s.wav", ""}});
    return r ? r->status : -1;
  };
  ASSERT_EQ(sync(), 200);
  ASSERT_EQ(metric(server, "soroka_worker_starts_total"), "1");
  auto a = std::async(std::launch::async, sync);
  auto b = std::async(std::launch::async, sync);
  EXPECT_EQ(a.get(), 200);
  EXPECT_EQ(b.get(), 200);
  EXPECT_EQ(metric(server, "soroka_worker_starts_total"), "2") << "the second job had to wait for the first worker";
  EXPECT_EQ(await_metric(server, "soroka_workers_idle", "2", 5s), "2");
  EXPECT_EQ(cg->oom_kills(), 0u);
  server.stop(SIGTERM, 10s);
}

// The service in a real 1 GiB cgroup v1 with warning at 50 % and critical at 70 %; a memory
// hog beside it plays "the rest of the service's memory". Warning ends idle workers; critical
// stops the running worker and re-queues its job, which runs again once memory is back.
TEST(WarmWorkers, PressureEndsIdleWorkersThenPreemptsARunningJob) {
  SKIP_UNDER_SANITIZER();
  std::string why;
  ASSERT_TRUE(v1_memory_available(&why)) << "cgroup v1 memory is needed: " << why;
  auto cg = V1Cgroup::create(1ull << 30, &why);
  ASSERT_TRUE(cg) << why;
  auto speech = speech_sample();
  ASSERT_TRUE(speech);
  ServeInstance server({"SOROKA_MEMORY_WARNING_PERCENT=50", "SOROKA_MEMORY_CRITICAL_PERCENT=70",
                        "SOROKA_MEMORY_MIN_AVAILABLE=8MiB"},
                       {}, cg->dir() + "/cgroup.procs");
  auto hog = Hog::spawn(cg->dir());
  ASSERT_TRUE(hog);

  // 1. An idle sim-tiny worker holds ~290 MiB; 300 MiB more crosses 512 MiB (warning).
  auto first = server.submit(speech->path.string(), "sim-tiny");
  ASSERT_EQ(server.wait_final(first, 60s)["state"], "succeeded");
  ASSERT_EQ(await_metric(server, "soroka_workers_idle", "1", 5s), "1");
  ASSERT_TRUE(hog->command("alloc 300"));
  EXPECT_EQ(await_metric(server, "soroka_workers_idle", "0", 10s), "0")
      << "usage " << (cg->usage() >> 20) << " MiB";
  EXPECT_EQ(metric(server, "soroka_worker_preemptions_total"), "0") << "nothing was running";
  ASSERT_TRUE(hog->command("free"));
  EXPECT_EQ(await_metric(server, "soroka_memory_level", "0", 10s), "0");

  // 2. A running sim-slow job; the hog takes the cgroup past 717 MiB (critical): after the
  // shed hint and its grace, the worker is stopped and the job goes back to the queue.
  auto slow = server.submit(speech->path.string(), "sim-slow");
  for (int i = 0; i < 200 && server.job(slow)["state"] != "running"; ++i) std::this_thread::sleep_for(50ms);
  ASSERT_EQ(server.job(slow)["state"], "running");
  std::this_thread::sleep_for(1s);  // its worker is up and holds its model
  ASSERT_TRUE(hog->command("alloc 680"));
  EXPECT_EQ(await_metric(server, "soroka_worker_preemptions_total", "1", 15s), "1")
      << "usage " << (cg->usage() >> 20) << " MiB, level " << metric(server, "soroka_memory_level");
  nlohmann::json j;
  for (int i = 0; i < 100; ++i) {
    j = server.job(slow);
    if (j["state"] == "queued") break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(j["state"], "queued") << j.dump() << " (waits while memory is short)";
  EXPECT_EQ(j.value("queue_position", 0), 1) << j.dump() << " (the only job in line)";
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(server.job(slow)["state"], "queued") << "nothing starts while memory is short";
  EXPECT_EQ(cg->oom_kills(), 0u);

  // 3. Memory comes back: the job runs again and finishes, without using an attempt.
  ASSERT_TRUE(hog->command("free"));
  auto done = server.wait_final(slow, 90s);
  EXPECT_EQ(done["state"], "succeeded") << done.dump();
  EXPECT_EQ(done["attempts"], 0) << done.dump();
  EXPECT_EQ(cg->oom_kills(), 0u);
  hog.reset();
  server.stop(SIGTERM, 10s);
}

}  // namespace
}  // namespace soroka::test

// The service's life: kill -9 and restart (exactly once), OOM containment, SIGTERM drain.
#include <fstream>

#include <gtest/gtest.h>

#include "jobs/job_store.h"
#include "service/serve_instance.h"
#include "support/media_fixtures.h"

namespace soroka::test {
namespace {

using namespace std::chrono_literals;

TEST(ServeLifecycle, KillMinus9ThenRestartFinishesEveryJobExactlyOnce) {
  auto speech = speech_sample();
  ASSERT_TRUE(speech) << speech.error().message;
  auto server = std::make_unique<ServeInstance>();
  server->keep_state();
  const std::string state = server->state_dir();
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    ids.push_back(server->submit(speech->path.string(), i % 2 ? "sim-tiny" : "sim-base"));
    ASSERT_FALSE(ids.back().empty());
  }
  // Kill it while jobs run.
  bool running = false;
  for (int i = 0; i < 100 && !running; ++i) {
    for (const auto& id : ids) running = running || server->job(id)["state"] == "running";
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(running);
  server->crash();

  auto restarted = std::make_unique<ServeInstance>(std::vector<std::string>{}, state);
  for (const auto& id : ids) {
    auto j = restarted->wait_final(id, 90s);
    EXPECT_EQ(j["state"], "succeeded") << j.dump();
  }
  restarted->stop(SIGTERM, 10s);
  // The store itself: every job succeeded once, with its result file; nothing left running.
  auto store = jobs::SqliteJobStore::open(jobs::default_sqlite_params(state + "/jobs.sqlite"));
  ASSERT_TRUE(store) << store.error().message;
  auto counts = (*store)->counts();
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->of(jobs::JobState::succeeded), 6);
  EXPECT_EQ(counts->total(), 6);
  for (const auto& id : ids) {
    auto j = (*store)->get(id);
    ASSERT_TRUE(j);
    EXPECT_EQ(j->state, jobs::JobState::succeeded);
    EXPECT_TRUE(std::filesystem::exists(j->result_path)) << j->result_path;
    EXPECT_EQ(j->attempts, 0) << "an interrupted run is not a failed attempt";
  }
  auto ok = (*store)->integrity_ok();
  EXPECT_TRUE(ok && *ok);
  store->reset();
  std::error_code ec;
  std::filesystem::remove_all(state, ec);
}

TEST(ServeLifecycle, WorkerOverItsLimitIsOomKilledServiceSurvivesJobFailsClearly) {
  auto speech = speech_sample();
  ASSERT_TRUE(speech);
  // sim-leak declares 273 MB and keeps allocating: the kernel must stop it at the worker's
  // cgroup limit (capped at 300 MiB here), twice, and the service must say so.
  ServeInstance server({"SOROKA_WORKER_MAX_MEMORY=300MiB", "SOROKA_JOBS_MAX_ATTEMPTS=2"});
  const pid_t pid = server.pid();
  std::string id = server.submit(speech->path.string(), "sim-leak");
  ASSERT_FALSE(id.empty());
  auto j = server.wait_final(id, 60s);
  ASSERT_EQ(j["state"], "failed") << j.dump();
  const std::string msg = j["error"]["message"];
  EXPECT_NE(msg.find("worker was killed by the kernel OOM killer 2 times at a 300 MiB limit"),
            std::string::npos)
      << msg;
  EXPECT_EQ(j["attempts"], 2);
  EXPECT_EQ(j["degrade"], 1);  // the second run had cheaper settings
  EXPECT_EQ(metric(server, "soroka_worker_oom_kills_total"), "2");
  // Still the same, healthy service, and it still runs jobs.
  EXPECT_EQ(server.pid(), pid);
  EXPECT_EQ(::kill(pid, 0), 0);
  auto h = server.client().Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  std::string next = server.submit(speech->path.string(), "sim-slow");
  auto n = server.wait_final(next, 2s);
  EXPECT_EQ(n["state"], "running") << n.dump();
}

TEST(ServeLifecycle, JobTooBigForTheBudgetFailsWithoutRunning) {
  auto speech = speech_sample();
  ASSERT_TRUE(speech);
  // No host has 100 TiB: the job can never fit the budget and must fail at once, clearly.
  ServeInstance small({"SOROKA_WORKER_MEMORY_PER_JOB=100TiB"});
  auto r = small.client().Post("/v1/audio/transcriptions",
                               httplib::MultipartFormDataItems{{"file", ServeInstance::read_all(speech->path), "s.wav", ""}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413) << r->body;  // too_big: no worker this service can give would do
  EXPECT_NE(r->body.find("this service can give a worker at most"), std::string::npos) << r->body;
  EXPECT_EQ(metric(small, "soroka_worker_starts_total"), "0");
}

TEST(ServeLifecycle, SigtermRequeuesUnfinishedJobsAndExitsZero) {
  auto speech = speech_sample();
  ASSERT_TRUE(speech);
  auto server = std::make_unique<ServeInstance>(std::vector<std::string>{"SOROKA_SERVER_SHUTDOWN_TIMEOUT_MS=500"});
  server->keep_state();
  const std::string state = server->state_dir();
  std::string id = server->submit(speech->path.string(), "sim-slow");
  for (int i = 0; i < 100 && server->job(id)["state"] != "running"; ++i) std::this_thread::sleep_for(50ms);
  ASSERT_EQ(server->job(id)["state"], "running");
  auto t0 = std::chrono::steady_clock::now();
  auto code = server->stop(SIGTERM, 15s);
  ASSERT_TRUE(code.has_value()) << "did not exit";
  EXPECT_EQ(*code, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 8s);
  auto store = jobs::SqliteJobStore::open(jobs::default_sqlite_params(state + "/jobs.sqlite"));
  ASSERT_TRUE(store);
  auto j = (*store)->get(id);
  ASSERT_TRUE(j);
  EXPECT_EQ(j->state, jobs::JobState::queued) << "re-queued for the next start";
  EXPECT_EQ(j->attempts, 0);
  EXPECT_TRUE(std::filesystem::exists(j->spec.input_path));
  store->reset();
  std::error_code ec;
  std::filesystem::remove_all(state, ec);
}

TEST(ServeLifecycle, SighupReloadsTheConfigAndKeepsItWhenTheNewOneIsBroken) {
  const std::string dir = make_temp_dir("soroka-hup-");
  const std::string config = dir + "/soroka.toml";
  auto write = [&](const std::string& text) {
    std::ofstream(config, std::ios::trunc) << text;
  };
  write("[memory]\nmax_file_size = \"1MiB\"\n");
  ServeInstance server({"SOROKA_CONFIG=" + config});
  const std::string two_mib(2u << 20, 'x');
  auto upload = [&] {
    auto r = server.client().Post("/v1/jobs", httplib::MultipartFormDataItems{{"file", two_mib, "x.ogg", ""}});
    return r ? r->status : -1;
  };
  // Polls: the reload happens on the service's signal thread, a moment after the signal.
  auto status_leaves = [&](int old) {
    int got = -1;
    for (int i = 0; i < 100 && (got = upload()) == old; ++i) std::this_thread::sleep_for(50ms);
    return got;
  };
  ASSERT_EQ(upload(), 413);
  write("[memory]\nmax_file_size = \"8MiB\"\n");
  ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
  // Within the new limit, the bytes are now judged as media: not media at all.
  EXPECT_EQ(status_leaves(413), 415);
  // A broken file: the running configuration stays, and so does the service.
  write("[memory]\nmax_file_size = \"lots\"\n");
  ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(upload(), 415) << "the 8 MiB limit is still in force";
  auto h = server.client().Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace soroka::test

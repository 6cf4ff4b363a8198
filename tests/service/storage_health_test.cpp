// Worker stalls and timeouts end in retries; a full disk degrades the store's health without
// losing the job, and the job completes once there is room again.
#include <signal.h>
#include <sys/mount.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "jobs/job_store.h"
#include "oomguard/budget.h"
#include "service/job_params.h"
#include "service/process_worker.h"
#include "service/scheduler.h"
#include "engine/factory.h"
#include "service/serve_instance.h"
#include "service/store_health.h"
#include "support/media_fixtures.h"
#include "worker/supervisor.h"

namespace soroka::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

bool job_running_with_progress(const ServeInstance& s, const std::string& id) {
  auto j = s.job(id);
  return j.is_object() && j.value("state", "") == "running" && j.value("progress", 0.0) > 0;
}

std::unique_ptr<jobs::SqliteJobStore> open_store(const std::string& path) {
  auto s = jobs::SqliteJobStore::open(jobs::default_sqlite_params(path));
  if (!s) {
    ADD_FAILURE() << s.error().message;
    return nullptr;
  }
  return std::move(*s);
}

TEST(WorkerStall, AStoppedWorkerIsKilledAfterTheStallTimeoutAndItsJobRetried) {
  auto speech = short_speech_sample();
  ASSERT_TRUE(speech) << speech.error().message;
  // Workers end after each job (idle_ttl 0), so nothing may hold memory once the job is done.
  auto server = std::make_unique<ServeInstance>(
      std::vector<std::string>{"SOROKA_WORKER_STALL_TIMEOUT_MS=2000", "SOROKA_WORKER_IDLE_TTL_MS=0"});
  server->keep_state();
  const std::string state = server->state_dir();
  const std::string id = server->submit(speech->path.string(), "sim-brief");
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(eventually([&] { return job_running_with_progress(*server, id); }, 20s));
  auto kids = children_of(server->pid());
  ASSERT_EQ(kids.size(), 1u);
  const pid_t stopped = kids[0];
  ASSERT_EQ(::kill(stopped, SIGSTOP), 0);
  const auto t0 = std::chrono::steady_clock::now();

  // Killed (the pid is reaped) no sooner than the stall timeout minus the last heartbeat's
  // age (<= 500 ms), and well before worker.timeout_ms (2 h).
  ASSERT_TRUE(eventually([&] { return ::kill(stopped, 0) != 0 && errno == ESRCH; }, 15s))
      << "the stopped worker still exists";
  const auto killed_after = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(killed_after, 1400ms);
  auto j = server->wait_final(id, 60s);
  ASSERT_EQ(j.value("state", ""), "succeeded") << j.dump();
  EXPECT_EQ(metric(*server, "soroka_worker_stalls_total"), "1") << "the healthy rerun was not killed";
  // Nothing left behind: no worker, no reservation.
  EXPECT_TRUE(eventually([&] { return metric(*server, "soroka_budget_reserved_bytes") == "0"; }, 5s))
      << metric(*server, "soroka_budget_reserved_bytes");
  EXPECT_EQ(metric(*server, "soroka_workers_running"), "0");
  EXPECT_TRUE(children_of(server->pid()).empty());
  ASSERT_EQ(server->stop(SIGTERM, 15s), std::optional<int>(0));
  server.reset();

  auto store = open_store(state + "/jobs.sqlite");
  ASSERT_TRUE(store);
  auto row = store->get(id);
  ASSERT_TRUE(row);
  EXPECT_EQ(row->state, jobs::JobState::succeeded);
  EXPECT_EQ(row->attempts, 1) << "the stall used one attempt";
  EXPECT_EQ(row->runs, 2);
  EXPECT_NE(row->last_error.find("stalled"), std::string::npos) << row->last_error;
  EXPECT_FALSE(row->lease_expires.has_value()) << "no lease left";
  std::printf("stall: worker killed %lld ms after SIGSTOP (stall timeout 2000 ms); last_error: %s\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(killed_after).count()),
              row->last_error.c_str());
  store.reset();
  std::error_code ec;
  fs::remove_all(state, ec);
}

TEST(WorkerStall, ATimeoutIsARetryableFailureWithItsOwnReason) {
  auto speech = short_speech_sample();
  ASSERT_TRUE(speech) << speech.error().message;
  // sim-brief takes 4 s; every run hits the 1.5 s timeout, so all three attempts are used.
  ServeInstance server({"SOROKA_WORKER_TIMEOUT_MS=1500", "SOROKA_WORKER_IDLE_TTL_MS=0"});
  const std::string id = server.submit(speech->path.string(), "sim-brief");
  ASSERT_FALSE(id.empty());
  auto j = server.wait_final(id, 60s);
  ASSERT_EQ(j.value("state", ""), "failed") << j.dump();
  const std::string why = j["error"].value("message", "");
  EXPECT_NE(why.find("gave up after 3 attempts"), std::string::npos) << why;
  EXPECT_NE(why.find("timed out"), std::string::npos) << why;
  EXPECT_NE(why.find("worker.timeout_ms"), std::string::npos) << why;
  EXPECT_EQ(metric(server, "soroka_worker_timeouts_total"), "3");
  EXPECT_EQ(metric(server, "soroka_worker_stalls_total"), "0");
}

// A tmpfs of a few MiB that the test can fill; unmounted (lazily if busy) at the end.
class TinyTmpfs {
 public:
  explicit TinyTmpfs(const char* size) : dir_(make_temp_dir("soroka-tmpfs-")) {
    std::string opts = std::string("size=") + size;
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, opts.c_str()) == 0) mounted_ = true;
    else error_ = std::strerror(errno);
  }
  ~TinyTmpfs() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
    std::error_code ec;
    fs::remove(dir_, ec);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_, error_;
  bool mounted_ = false;
};

// Writes until the file system refuses (ENOSPC); returns the bytes written.
std::uint64_t fill(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::setvbuf(f, nullptr, _IONBF, 0);
  std::string block(4096, 'x');
  std::uint64_t n = 0;
  while (std::fwrite(block.data(), 1, block.size(), f) == block.size()) n += block.size();
  // The last page's worth, byte by byte: not a byte left.
  while (std::fwrite("x", 1, 1, f) == 1) ++n;
  std::fclose(f);
  return n;
}

TEST(StoreHealth, FullDiskDegradesTheStoreKeepsTheJobAndRecoversWhenFreed) {
  TinyTmpfs disk("5m");
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here: " << disk.error();
  auto speech = short_speech_sample();
  ASSERT_TRUE(speech) << speech.error().message;
  const std::string state = disk.dir() + "/state";
  auto server = std::make_unique<ServeInstance>(
      // A 5 MiB disk: keep 1 MiB free for uploads (the default 64 MiB floor refuses them all).
      std::vector<std::string>{"SOROKA_WORKER_IDLE_TTL_MS=0", "SOROKA_WORKER_STALL_TIMEOUT_MS=0",
                               "SOROKA_JOBS_MIN_FREE_DISK=1MiB"},
      state);
  server->keep_state();
  ASSERT_EQ(metric(*server, "soroka_store_healthy"), "1");
  ASSERT_EQ(server->client().Get("/healthz")->status, 200);
  const std::string id = server->submit(speech->path.string(), "sim-brief");
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(eventually([&] { return job_running_with_progress(*server, id); }, 20s));

  // The disk fills while the job runs: its progress, its result or its end cannot be written.
  const std::string filler = disk.dir() + "/filler";
  const std::uint64_t filled = fill(filler);
  ASSERT_GT(filled, 0u);
  ASSERT_TRUE(eventually([&] { return metric(*server, "soroka_store_healthy") == "0"; }, 20s))
      << "store errors: " << metric(*server, "soroka_store_errors_total");
  EXPECT_NE(metric(*server, "soroka_store_errors_total"), "0");
  {
    // /healthz says so, with the reason; an upload meanwhile is refused (507 or 503).
    auto h = server->client().Get("/healthz");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->status, 503);
    auto hj = nlohmann::json::parse(h->body, nullptr, false);
    EXPECT_EQ(hj.value("status", ""), "degraded") << h->body;
    EXPECT_EQ(hj.value("component", ""), "store") << h->body;
    EXPECT_FALSE(server->submit(speech->path.string(), "sim-brief").size()) << "accepted on a full disk";
  }
  // Let the run end while the disk is full (sim-brief works 4 s): its end is not recorded.
  std::this_thread::sleep_for(5s);
  auto during = server->job(id);
  ASSERT_TRUE(during.is_object()) << "the job must stay readable";
  EXPECT_EQ(during.value("state", ""), "running") << during.dump();
  {
    auto store = open_store(server->db_path());
    ASSERT_TRUE(store);
    auto ok = store->integrity_ok();
    ASSERT_TRUE(ok) << ok.error().message;
    EXPECT_TRUE(*ok);
  }
  const std::string errors_while_full = metric(*server, "soroka_store_errors_total");

  // Room again: the next write commits, health returns, the job completes.
  fs::remove(filler);
  ASSERT_TRUE(eventually([&] { return metric(*server, "soroka_store_healthy") == "1"; }, 30s));
  EXPECT_EQ(server->client().Get("/healthz")->status, 200) << "recovered";
  auto j = server->wait_final(id, 90s);
  ASSERT_EQ(j.value("state", ""), "succeeded") << j.dump();
  ASSERT_TRUE(j.contains("result")) << j.dump();
  EXPECT_NE(j["result"].value("text", "").find("simulated"), std::string::npos) << j.dump();
  ASSERT_EQ(server->stop(SIGTERM, 15s), std::optional<int>(0));
  server.reset();

  auto store = open_store(state + "/jobs.sqlite");
  ASSERT_TRUE(store);
  auto ok = store->integrity_ok();
  ASSERT_TRUE(ok && *ok);
  auto row = store->get(id);
  ASSERT_TRUE(row);
  EXPECT_EQ(row->state, jobs::JobState::succeeded);
  EXPECT_FALSE(row->lease_expires.has_value());
  std::printf("full disk: filled %llu KiB; store errors while full: %s; job succeeded after %d "
              "run(s), attempts %d, last_error \"%s\"\n",
              static_cast<unsigned long long>(filled >> 10), errors_while_full.c_str(), row->runs,
              row->attempts, row->last_error.c_str());
}

// Completion itself cannot commit: another process holds the database's write lock past the
// service's busy timeout (5 s), so every write fails with EBUSY. The finished run keeps trying
// its completion while its lease holds and records it once the lock is gone: the job succeeds
// on its first run, nothing is run twice.
TEST(StoreHealth, ACompletionThatCannotCommitIsRetriedAndRecordedOnItsFirstRun) {
  auto speech = short_speech_sample();
  ASSERT_TRUE(speech) << speech.error().message;
  ServeInstance server({"SOROKA_WORKER_IDLE_TTL_MS=0"});
  const std::string id = server.submit(speech->path.string(), "sim-brief");
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(eventually([&] { return job_running_with_progress(server, id); }, 20s));

  std::promise<void> locked, release;
  auto p = jobs::default_sqlite_params(server.db_path());
  p.before_commit = [&](std::string_view op) {
    if (op != "submit") return;
    locked.set_value();
    release.get_future().wait();  // holding the write lock, mid-transaction
  };
  auto other = jobs::SqliteJobStore::open(p);
  ASSERT_TRUE(other) << other.error().message;
  Result<std::string> held_job = fail("not submitted");
  std::thread holder([&] { held_job = (*other)->submit(jobs::JobSpec{}); });
  locked.get_future().wait();
  // sim-brief ends within 4 s; its completion then waits 5 s for the lock, fails, retries.
  const bool degraded =
      eventually([&] { return metric(server, "soroka_store_healthy") == "0"; }, 20s);
  std::this_thread::sleep_for(8s);
  const std::string state_while_locked = server.job(id).value("state", "");
  release.set_value();
  holder.join();
  if (held_job) (void)(*other)->cancel(*held_job);  // only the lock was wanted, not the job
  other->reset();
  ASSERT_TRUE(degraded) << "store errors: " << metric(server, "soroka_store_errors_total");
  EXPECT_EQ(state_while_locked, "running");

  auto j = server.wait_final(id, 60s);
  ASSERT_EQ(j.value("state", ""), "succeeded") << j.dump();
  EXPECT_TRUE(eventually([&] { return metric(server, "soroka_store_healthy") == "1"; }, 10s));
  auto store = open_store(server.db_path());
  ASSERT_TRUE(store);
  auto row = store->get(id);
  ASSERT_TRUE(row);
  EXPECT_EQ(row->runs, 1) << "recorded by the run that did the work";
  EXPECT_EQ(row->attempts, 0) << row->last_error;
  std::printf("locked store: %s store errors; completed on run %d\n",
              metric(server, "soroka_store_errors_total").c_str(), row->runs);
}

// The other way out: the disk stays full past the run's lease, so the scheduler gives up on
// recording the end; the job stays running in the store until recover() (the service's
// housekeeping, every 5 s) re-queues it once writes commit, and it runs again. The scheduler
// runs in this process with a 2 s lease so that this takes seconds, not minutes.
TEST(StoreHealth, AnEndNotRecordedWithinTheLeaseIsRecoveredAndRunAgain) {
  TinyTmpfs disk("5m");
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here: " << disk.error();
  ::setenv("SOROKA_ENABLE_SIM_ENGINE", "1", 1);  // inherited by the workers
  auto speech = short_speech_sample();
  ASSERT_TRUE(speech) << speech.error().message;
  const std::string dir = disk.dir();
  fs::create_directories(dir + "/results");
  const std::string input = dir + "/input.wav";
  fs::copy_file(speech->path, input);

  auto raw = jobs::SqliteJobStore::open(jobs::default_sqlite_params(dir + "/jobs.sqlite"));
  ASSERT_TRUE(raw) << raw.error().message;
  service::Metrics metrics;
  service::StoreHealth health;
  service::HealthCheckedQueue store(**raw, health, metrics);
  auto supervisor = worker::WorkerSupervisor::create({});
  ASSERT_TRUE(supervisor) << supervisor.error().message;
  oomguard::MemoryBudget budget(1ull << 30);
  service::SchedulerParams sp = service::scheduler_params(ServiceSettings{});
  EngineSettings engines;
  engines.simulation = true;  // the sim-* models' own sizes
  sp.model_bytes = [engines](std::string_view m) { return engine::worker_base_bytes(engines, m, 0); };
  sp.owner = {"test-node", static_cast<std::int64_t>(::getpid())};
  sp.results_dir = dir + "/results";
  sp.idle_ttl = 0ms;
  sp.lease = 2s;
  service::ProcessLauncher launcher(**supervisor, metrics, {SOROKA_BINARY, false, "", sp.results_dir, nullptr});
  auto sched = std::make_unique<service::Scheduler>(store, budget, launcher, metrics, sp);
  service::JobParams params;
  params.model = "sim-brief";
  jobs::JobSpec spec;
  spec.params = service::to_json(params);
  spec.input_path = input;
  auto id = store.submit(spec);
  ASSERT_TRUE(id) << id.error().message;
  sched->start();
  sched->wake();
  ASSERT_TRUE(eventually([&] {
    auto j = store.get(*id);
    return j && j->state == jobs::JobState::running && j->progress > 0;
  }, 20s));

  const std::string filler = dir + "/filler";
  ASSERT_GT(fill(filler), 0u);
  // The run ends (sim-brief works 4 s) and its end is given up once the lease is over.
  ASSERT_TRUE(eventually([&] { return sched->running() == 0; }, 20s));
  EXPECT_FALSE(health.healthy());
  EXPECT_GT(metrics.store_errors.load(), 0u);
  auto during = store.get(*id);
  ASSERT_TRUE(during);
  EXPECT_EQ(during->state, jobs::JobState::running) << "not lost, not finished: left to recover()";
  auto ok = (*raw)->integrity_ok();
  ASSERT_TRUE(ok && *ok);

  // Room again; what the service's housekeeping does every 5 s: recover, wake.
  fs::remove(filler);
  jobs::RecoverParams rp;
  rp.owner_alive = jobs::local_owner_alive(sp.owner.node);
  ASSERT_TRUE(eventually([&] {
    if (auto rec = store.recover(jobs::now_ms(), rp); rec && !rec->requeued.empty()) sched->wake();
    auto j = store.get(*id);
    return j && j->state == jobs::JobState::succeeded;
  }, 60s)) << store.get(*id)->last_error;
  EXPECT_TRUE(health.healthy()) << health.reason();
  auto done = store.get(*id);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->runs, 2);
  EXPECT_NE(done->last_error.find("lease expired"), std::string::npos) << done->last_error;
  EXPECT_TRUE(fs::exists(done->result_path));
  sched->shutdown(1s);
  sched.reset();
  ok = (*raw)->integrity_ok();
  ASSERT_TRUE(ok && *ok);
  std::printf("lease path: job succeeded on run %d; last_error \"%s\"\n", done->runs,
              done->last_error.c_str());
}

}  // namespace
}  // namespace soroka::test

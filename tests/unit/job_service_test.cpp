// Unit tests of the jobs interface front ends use (frontend::JobService) on a temporary SQLite
// store, with a fake runner and a fake probe: no HTTP, no workers.
#include "frontend/job_service.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "support/fixture.h"

namespace soroka::frontend {
namespace {

using namespace std::chrono_literals;
using jobs::JobState;

// Records what the service asks of the scheduler; wait_any_finished returns on finished().
class FakeRunner final : public Runner {
 public:
  void wake() override { ++wakes; }
  void cancel_running(const std::string& id) override {
    std::lock_guard lk(mu_);
    cancelled.push_back(id);
  }
  void wait_any_finished(std::chrono::milliseconds timeout) override {
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, timeout);
  }
  bool waiting_for_memory(const std::string& id) const override { return id == memory_waiter; }
  void finished() { cv_.notify_all(); }

  std::atomic<int> wakes{0};
  std::vector<std::string> cancelled;
  std::string memory_waiter;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
};

class JobServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = jobs::SqliteJobStore::open(jobs::default_sqlite_params(dir.path("jobs.sqlite")));
    ASSERT_TRUE(s) << s.error().message;
    store = std::move(*s);
    JobServiceContext ctx{
        *store,
        runner,
        [this](const std::string&) { return probe_result; },
        {[this] { return accepting.load(); }, [this] { return level; }, [this] { return issue; }},
        &metrics};
    jobs_ = std::make_unique<JobService>(std::move(ctx));
    probe_result = service::ProbeOutcome{true, FailureKind::none, "", 12.5, "wav", "pcm_s16le"};
  }

  // A received upload: a real file, as the service's would be.
  Submission upload(const std::string& name) {
    const std::string path = dir.path(name);
    std::ofstream(path) << "RIFF....WAVE";
    Submission s;
    s.params.model = "pocketsphinx";
    s.file = {path, name, 12};
    return s;
  }
  std::uint64_t rejections(service::Rejection r) const {
    return metrics.rejections[static_cast<std::size_t>(r)].load();
  }

  test::FixtureTree dir;  // a fresh temporary directory
  std::unique_ptr<jobs::SqliteJobStore> store;
  FakeRunner runner;
  service::Metrics metrics;
  Result<service::ProbeOutcome> probe_result = service::ProbeOutcome{};
  std::atomic<bool> accepting{true};
  oomguard::Level level = oomguard::Level::normal;
  std::optional<std::string> issue;
  std::unique_ptr<JobService> jobs_;
  const Caller alice{"http:alice", false};
  const Caller bob{"tg:42", false};
  Quotas quotas{.max_queue = 10,
                .max_attempts = 2,
                .max_jobs = 5,
                .submissions_per_minute = 0,
                .max_stored_bytes = 0};
};

TEST_F(JobServiceTest, SubmitStoresTheProbedJobForItsSubmitterAndWakesTheRunner) {
  auto done = jobs_->submit(alice, upload("a.wav"), quotas);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(done->duration_s, 12.5);
  EXPECT_EQ(runner.wakes, 1);
  auto job = store->get(done->id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->spec.submitter, "http:alice");
  EXPECT_EQ(job->spec.original_name, "a.wav");
  EXPECT_EQ(job->spec.max_attempts, 2);
  auto params = service::parse_job_params(job->spec.params);
  ASSERT_TRUE(params);
  EXPECT_EQ(params->duration_s, 12.5);
}

// The running limit goes with the job for its submitter; a single-user service has none; a
// queued job's view says its place in line.
TEST_F(JobServiceTest, TheRunningLimitIsStoredWithTheJobAndAViewHasItsPlace) {
  Quotas q = quotas;
  q.max_running = 2;
  auto a = jobs_->submit(alice, upload("a.wav"), q);
  auto b = jobs_->submit(Caller{"http:local", true}, upload("b.wav"), q);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(store->get(a->id)->spec.max_running_per_owner, 2);
  EXPECT_EQ(store->get(b->id)->spec.max_running_per_owner, 0);
  EXPECT_EQ(jobs_->get(a->id, alice)->place, 1);
  EXPECT_EQ(jobs_->get(b->id, Caller{"http:local", true})->place, 2);
  EXPECT_EQ(quotas_from(Settings{}).max_running, 0u);  // jobs.max_running_per_owner: off by default
}

TEST_F(JobServiceTest, SubmitRefusalsAreTypedAndStoreNothing) {
  struct Case {
    const char* what;
    std::function<void()> arrange;
    Refusal expect;
    service::Rejection counted;
  };
  std::vector<Case> cases = {
      {"probe could not run", [&] { probe_result = fail("spawn failed", EAGAIN); },
       Refusal::probe_failed, service::Rejection::memory},
      {"not media we read",
       [&] { probe_result = service::ProbeOutcome{false, FailureKind::unsupported_media, "no audio stream", 0, "", ""}; },
       Refusal::unsupported_media, service::Rejection::unsupported_media},
      {"damaged media",
       [&] { probe_result = service::ProbeOutcome{false, FailureKind::invalid_input, "truncated", 0, "", ""}; },
       Refusal::invalid_input, service::Rejection::bad_media},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.what);
    c.arrange();
    const auto before = rejections(c.counted);
    auto r = jobs_->submit(alice, upload("x.wav"), quotas);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().reason, c.expect);
    EXPECT_FALSE(r.error().message.empty());
    EXPECT_EQ(rejections(c.counted), before + 1);
  }
  EXPECT_EQ(*store->queue_length(), 0);
  EXPECT_EQ(runner.wakes, 0);
}

TEST_F(JobServiceTest, QueueQuotaAndRateLimitsRefuse) {
  Quotas q = quotas;
  q.max_jobs = 1;
  ASSERT_TRUE(jobs_->submit(alice, upload("1.wav"), q));
  auto second = jobs_->submit(alice, upload("2.wav"), q);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().reason, Refusal::quota_exceeded);
  EXPECT_GT(second.error().retry_after_s, 0);
  ASSERT_TRUE(jobs_->submit(bob, upload("3.wav"), q)) << "another submitter has its own quota";

  q.max_queue = 2;
  auto full = jobs_->submit(Caller{"tg:7", false}, upload("4.wav"), q);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().reason, Refusal::queue_full);

  Quotas r = quotas;
  r.submissions_per_minute = 1;
  Caller carol{"http:carol", false};
  ASSERT_TRUE(jobs_->submit(carol, upload("5.wav"), r));
  auto fast = jobs_->submit(carol, upload("6.wav"), r);
  ASSERT_FALSE(fast);
  EXPECT_EQ(fast.error().reason, Refusal::rate_limited);
}

TEST_F(JobServiceTest, AdmitRefusesBeforeAFileIsReceived) {
  EXPECT_FALSE(jobs_->admit(quotas));
  level = oomguard::Level::critical;
  ASSERT_TRUE(jobs_->admit(quotas));
  EXPECT_EQ(jobs_->admit(quotas)->reason, Refusal::memory_critical);
  level = oomguard::Level::warning;
  issue = "store: disk full";
  ASSERT_TRUE(jobs_->admit(quotas));
  EXPECT_NE(jobs_->admit(quotas)->message.find("store: disk full"), std::string::npos);
  issue.reset();
  Quotas one = quotas;
  one.max_queue = 1;
  ASSERT_TRUE(jobs_->submit(alice, upload("a.wav"), quotas));
  ASSERT_TRUE(jobs_->admit(one));
  EXPECT_EQ(jobs_->admit(one)->reason, Refusal::queue_full);
  accepting = false;
  EXPECT_EQ(jobs_->admit(quotas)->reason, Refusal::shutting_down);
}

TEST_F(JobServiceTest, OnlyTheOwnerSeesCancelsOrReadsAJob) {
  auto done = jobs_->submit(alice, upload("a.wav"), quotas);
  ASSERT_TRUE(done);
  const std::string id = done->id;
  ASSERT_TRUE(jobs_->get(id, alice));
  EXPECT_EQ(jobs_->get(id, bob).error().reason, Refusal::not_found);
  EXPECT_EQ(jobs_->get("01NOSUCHJOB0000000000000000", alice).error().reason, Refusal::not_found);
  EXPECT_EQ(jobs_->cancel(id, bob, "test").error().reason, Refusal::not_found);
  EXPECT_EQ(jobs_->result(id, bob, service::ResponseFormat::json).error().reason,
            Refusal::not_found);
  EXPECT_EQ(store->get(id)->state, JobState::queued) << "bob's cancel changed nothing";
  EXPECT_TRUE(jobs_->get(id, Caller{"http:local", true})) << "a single-user service sees every job";
}

TEST_F(JobServiceTest, CancelQueuedRemovesItsFileAndRunningStopsTheWorker) {
  Submission a = upload("a.wav");
  const std::string file = a.file.path;
  auto qa = jobs_->submit(alice, std::move(a), quotas);
  ASSERT_TRUE(qa);
  auto st = jobs_->cancel(qa->id, alice, "test");
  ASSERT_TRUE(st);
  EXPECT_EQ(*st, JobState::cancelled);
  EXPECT_FALSE(std::filesystem::exists(file));

  auto qb = jobs_->submit(alice, upload("b.wav"), quotas);
  ASSERT_TRUE(qb);
  ASSERT_TRUE(*store->claim_next({"node", 1}, 10s));
  EXPECT_EQ(*jobs_->cancel(qb->id, alice, "test"), JobState::running);
  EXPECT_EQ(runner.cancelled, std::vector<std::string>{qb->id});
  EXPECT_TRUE(store->get(qb->id)->cancel_requested);
}

TEST_F(JobServiceTest, WatchReturnsOnProgressOnFinishAndAtTheTimeout) {
  auto done = jobs_->submit(alice, upload("a.wav"), quotas);
  ASSERT_TRUE(done);
  const std::string id = done->id;
  auto claimed = *store->claim_next({"node", 1}, 10s);
  ASSERT_TRUE(claimed);
  runner.memory_waiter = id;

  // Nothing changes: the watch ends at its timeout with the job as it is.
  auto t0 = std::chrono::steady_clock::now();
  auto same = jobs_->watch(id, alice, JobState::running, 0.0, 300ms);
  ASSERT_TRUE(same);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 300ms);
  EXPECT_TRUE(same->waiting_for_memory);

  // Progress from another thread ends it early.
  std::thread worker([&] {
    std::this_thread::sleep_for(100ms);
    (void)store->report_progress(id, claimed->lease(), 0.5);
  });
  t0 = std::chrono::steady_clock::now();
  auto moved = jobs_->watch(id, alice, JobState::running, 0.0, 10s);
  worker.join();
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->job.progress, 0.5);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);

  // The end: failed with its kind, seen at once.
  ASSERT_TRUE(
      store->fail(id, claimed->lease(), {"bad", false, false, 0, FailureKind::invalid_input}));
  runner.finished();
  auto end = jobs_->watch(id, alice, JobState::running, 0.5, 10s);
  ASSERT_TRUE(end);
  EXPECT_EQ(end->job.state, JobState::failed);
  EXPECT_EQ(end->job.failure_kind, FailureKind::invalid_input);
  EXPECT_EQ(jobs_->watch(id, bob, JobState::running, 0, 1s).error().reason, Refusal::not_found);
}

TEST_F(JobServiceTest, ResultRendersASucceededJobOnly) {
  auto done = jobs_->submit(alice, upload("a.wav"), quotas);
  ASSERT_TRUE(done);
  EXPECT_EQ(jobs_->result(done->id, alice, service::ResponseFormat::text).error().reason,
            Refusal::not_finished);
  auto claimed = *store->claim_next({"node", 1}, 10s);
  const std::string result = dir.path("a.json");
  std::ofstream(result) << R"({"file":"a.wav","duration_s":2,"language":"en","engine":"test",)"
                        << R"("segments":[{"start":0,"end":1.5,"text":"hello world"}]})";
  ASSERT_TRUE(store->complete(done->id, claimed->lease(), {"", result, 0}));
  auto text = jobs_->result(done->id, alice, service::ResponseFormat::text);
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_EQ(text->body, "hello world\n");
  std::filesystem::remove(result);
  EXPECT_EQ(jobs_->result(done->id, alice, service::ResponseFormat::json).error().reason,
            Refusal::result_lost);
}

TEST(RateLimiter, TokenBucketPerSubmitter) {
  RateLimiter r;
  auto t = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(r.allow("a", 3, t));
  EXPECT_FALSE(r.allow("a", 3, t));
  EXPECT_TRUE(r.allow("b", 3, t)) << "submitters are separate";
  EXPECT_TRUE(r.allow("a", 3, t + std::chrono::seconds(20)))
      << "one token back after a third of a minute";
  EXPECT_FALSE(r.allow("a", 3, t + std::chrono::seconds(21)));
  EXPECT_TRUE(r.allow("a", 0, t)) << "0: unlimited";
}

TEST(RateLimiter, ManySubmittersAreForgottenOnceTheirBucketsRefill) {
  RateLimiter r;
  auto t = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < RateLimiter::kMaxBuckets; ++i)
    r.allow("tg:" + std::to_string(i), 10, t);
  EXPECT_EQ(r.buckets(), RateLimiter::kMaxBuckets);
  EXPECT_TRUE(r.allow("tg:new", 10, t + std::chrono::minutes(1)));
  EXPECT_EQ(r.buckets(), 1u) << "every old bucket had refilled";
  for (int i = 0; i < 9; ++i) r.allow("tg:new", 10, t + std::chrono::minutes(1));
  EXPECT_FALSE(r.allow("tg:new", 10, t + std::chrono::minutes(1))) << "a drained bucket is kept";
}

}  // namespace
}  // namespace soroka::frontend

// Tests for the job store: state machine, ordering, leases, retries, and crash safety across
// threads and forked processes sharing one SQLite file.
#include "jobs/job_store.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "jobs/schema.h"
#include "jobs/sqlite_db.h"
#include "util/fd.h"

namespace soroka::jobs {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// ---- Helpers ----

// A fresh directory per test under $TMPDIR (or /tmp), removed with its contents afterwards.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "soroka-jobs-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(std::string_view name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// Unwraps a Result or throws, which GoogleTest reports as a failure of the test.
template <class T>
T must(Result<T> r, std::string_view what) {
  if (!r) throw std::runtime_error(std::string(what) + ": " + r.error().message);
  return std::move(*r);
}
inline void must(Result<void> r, std::string_view what) {
  if (!r) throw std::runtime_error(std::string(what) + ": " + r.error().message);
}

// Time that moves only when told: leases expire without sleeping.
struct FakeClock {
  std::atomic<std::int64_t> ms{1'700'000'000'000};
  TimeMs now() const { return TimeMs(std::chrono::milliseconds(ms.load())); }
  void advance(std::chrono::milliseconds d) { ms += d.count(); }
};

std::unique_ptr<SqliteJobStore> open_store(const std::string& path, FakeClock* clock = nullptr) {
  auto p = default_sqlite_params(path);
  if (clock != nullptr) p.clock = [clock] { return clock->now(); };
  return must(SqliteJobStore::open(std::move(p)), "open " + path);
}

constexpr std::string_view kNode = "test-node";
LeaseOwner worker(std::int64_t pid) {
  return LeaseOwner{std::string(kNode), pid};
}
LeaseOwner self_owner() {
  return worker(::getpid());
}

JobSpec spec_named(const std::string& name, std::int32_t priority = 0) {
  JobSpec s;
  s.original_name = name;
  s.input_path = "/state/in/" + name;
  s.size_bytes = 1000;
  s.priority = priority;
  return s;
}

Job claim(JobQueue& q, const LeaseOwner& o, std::chrono::milliseconds lease = 10s) {
  auto j = must(q.claim_next(o, lease), "claim");
  if (!j) throw std::runtime_error("claim: the queue is unexpectedly empty");
  return std::move(*j);
}

// Forks; the child runs `fn` and _exits with its value (never returning into GoogleTest).
// Callers close their own stores first: SQLite's per-process lock bookkeeping must not be
// inherited by a child that opens the same file.
pid_t spawn(const std::function<int()>& fn) {
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int rc = 100;
    try {
      rc = fn();
    } catch (...) {
      rc = 101;
    }
    ::_exit(rc);
  }
  return pid;
}

// Exit code, or -signal if the child was killed.
int wait_child(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1000;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1000;
}

struct Pipe {
  Fd read, write;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    read.reset(fds[0]);
    write.reset(fds[1]);
  }
};

bool write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    s.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Everything readable from `fd` until EOF.
std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// ---- Ids and names ----

TEST(JobStoreIds, FormatIsCrockfordBase32AndTimeOrdered) {
  std::array<std::uint8_t, 10> zero{};
  std::array<std::uint8_t, 10> ones{};
  ones.fill(0xff);
  EXPECT_EQ(format_job_id(0, zero), "00000000000000000000000000");
  EXPECT_EQ(format_job_id(0, ones), "0000000000ZZZZZZZZZZZZZZZZ");
  // 1 ms is the last time character; 32 ms carries into the one before.
  EXPECT_EQ(format_job_id(1, zero).substr(0, 10), "0000000001");
  EXPECT_EQ(format_job_id(32, zero).substr(0, 10), "0000000010");
  EXPECT_LT(format_job_id(1'700'000'000'000, ones), format_job_id(1'700'000'000'001, zero));
  for (char ch : format_job_id(1'700'000'000'000, ones)) {
    EXPECT_EQ(std::string_view("ILOU").find(ch), std::string_view::npos) << ch;
  }
}

TEST(JobStoreIds, FreshIdsAreDistinct) {
  std::set<std::string> seen;
  const TimeMs t = now_ms();  // the same millisecond for all: only the random part differs
  for (int i = 0; i < 10'000; ++i) {
    auto id = must(make_job_id(t), "make_job_id");
    ASSERT_EQ(id.size(), 26u);
    EXPECT_TRUE(seen.insert(id).second) << id;
  }
}

TEST(JobStoreIds, StateNamesRoundTrip) {
  for (JobState s : kAllStates) EXPECT_EQ(parse_state(to_string(s)), s);
  EXPECT_EQ(parse_state("done"), std::nullopt);
  EXPECT_FALSE(is_terminal(JobState::queued));
  EXPECT_FALSE(is_terminal(JobState::running));
  EXPECT_TRUE(is_terminal(JobState::cancelled));
}

// ---- Schema ----

TEST(JobStoreSchema, MigratesAnEmptyFileAndKeepsDataAcrossReopen) {
  TempDir dir;
  const std::string db = dir.file("jobs.db");
  { std::ofstream(db).flush(); }  // 0 bytes: what a crashed first start can leave behind
  ASSERT_EQ(fs::file_size(db), 0u);
  std::string id;
  {
    auto store = open_store(db);
    id = must(store->submit(spec_named("a.ogg")), "submit");
  }
  {
    auto c = must(sqlite::Connection::open(db, 1s), "raw open");
    EXPECT_EQ(must(schema::user_version(c), "user_version"), schema::kVersion);
    auto q = must(c.query("PRAGMA journal_mode"), "query");
    ASSERT_TRUE(must(q.step(), "step"));
    EXPECT_EQ(q.text(0), "wal");  // persistent in the file, not just for one connection
  }
  auto store = open_store(db);
  EXPECT_EQ(must(store->get(id), "get").spec.original_name, "a.ogg");
  EXPECT_TRUE(must(store->integrity_ok(), "integrity"));
}

TEST(JobStoreSchema, RefusesANewerSchema) {
  TempDir dir;
  const std::string db = dir.file("jobs.db");
  {
    auto c = must(sqlite::Connection::open(db, 1s), "raw open");
    const std::string sql = "PRAGMA user_version = " + std::to_string(schema::kVersion + 1);
    must(c.exec(sql.c_str()), "set version");
  }
  auto r = SqliteJobStore::open(default_sqlite_params(db));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EPROTO);
  EXPECT_NE(r.error().message.find("newer"), std::string::npos) << r.error().message;
}

TEST(JobStoreSchema, RefusesAnotherApplicationsDatabase) {
  TempDir dir;
  const std::string db = dir.file("other.db");
  {
    auto c = must(sqlite::Connection::open(db, 1s), "raw open");
    must(c.exec("CREATE TABLE photos (name TEXT)"), "create");
  }
  auto r = SqliteJobStore::open(default_sqlite_params(db));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EPROTO) << r.error().message;
}

TEST(JobStoreSchema, RefusesAFileThatIsNotSqlite) {
  TempDir dir;
  const std::string db = dir.file("notes.txt");
  std::ofstream(db) << "this is not a database, just a text file long enough to have a header\n";
  auto r = SqliteJobStore::open(default_sqlite_params(db));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not a database"), std::string::npos) << r.error().message;
}

TEST(JobStoreSchema, ProcessesOpeningAFreshFileTogetherMigrateOnce) {
  TempDir dir;
  const std::string db = dir.file("jobs.db");
  constexpr int kProcs = 4;
  Pipe go;
  std::vector<pid_t> kids;
  for (int i = 0; i < kProcs; ++i) {
    kids.push_back(spawn([&] {
      go.write.reset();
      (void)read_all(go.read.get());  // EOF releases every child at once
      auto store = SqliteJobStore::open(default_sqlite_params(db));
      if (!store) {
        std::cerr << "child open: " << store.error().message << "\n";
        return 2;
      }
      return (*store)->submit(spec_named("x.ogg")) ? 0 : 3;
    }));
  }
  go.write.reset();
  for (pid_t k : kids) EXPECT_EQ(wait_child(k), 0);
  auto store = open_store(db);
  EXPECT_EQ(must(store->queue_length(), "queue_length"), kProcs);
}

// ---- State machine ----

class JobStore : public ::testing::Test {
 protected:
  void SetUp() override { store = open_store(dir.file("jobs.db"), &clock); }
  TempDir dir;
  FakeClock clock;
  std::unique_ptr<SqliteJobStore> store;
};

TEST_F(JobStore, SubmitClaimHeartbeatProgressComplete) {
  JobSpec s = spec_named("talk.mp3", 5);
  s.params = R"({"engine":"pocketsphinx","lang":"ru"})";
  s.submitter = "http:alice";
  s.estimated_peak_bytes = 300 << 20;
  const std::string id = must(store->submit(s), "submit");
  const TimeMs t0 = clock.now();

  Job q = must(store->get(id), "get queued");
  EXPECT_EQ(q.state, JobState::queued);
  EXPECT_EQ(q.spec.params, s.params);
  EXPECT_EQ(q.spec.submitter, "http:alice");
  EXPECT_EQ(q.spec.input_path, "/state/in/talk.mp3");
  EXPECT_EQ(q.spec.priority, 5);
  EXPECT_EQ(q.spec.estimated_peak_bytes, 300u << 20);
  EXPECT_EQ(q.created_at, t0);
  EXPECT_EQ(q.runs, 0);
  EXPECT_FALSE(q.started_at);
  EXPECT_FALSE(q.lease_owner);

  clock.advance(1s);
  Job r = claim(*store, worker(42), 30s);
  EXPECT_EQ(r.id, id);
  EXPECT_EQ(r.state, JobState::running);
  EXPECT_EQ(r.runs, 1);
  EXPECT_EQ(r.lease(), (Lease{worker(42), 1}));
  EXPECT_EQ(r.started_at, t0 + 1s);
  EXPECT_EQ(r.lease_expires, t0 + 31s);

  clock.advance(10s);
  LeaseStatus hb = must(store->heartbeat(id, r.lease(), 30s), "heartbeat");
  EXPECT_EQ(hb.expires, t0 + 41s);
  EXPECT_FALSE(hb.cancel_requested);
  must(store->report_progress(id, r.lease(), 0.25), "progress");
  EXPECT_DOUBLE_EQ(must(store->get(id), "get").progress, 0.25);

  clock.advance(5s);
  must(store->complete(id, r.lease(), {"hello world", "", 250u << 20}), "complete");
  Job d = must(store->get(id), "get done");
  EXPECT_EQ(d.state, JobState::succeeded);
  EXPECT_EQ(d.result_text, "hello world");
  EXPECT_DOUBLE_EQ(d.progress, 1.0);
  EXPECT_EQ(d.finished_at, t0 + 16s);
  EXPECT_EQ(d.observed_peak_bytes, 250u << 20);
  EXPECT_FALSE(d.lease_expires);
  EXPECT_EQ(d.lease_owner, worker(42));  // kept: who ran it

  // Finished is final: the same lease can do nothing more.
  auto again = store->complete(id, r.lease(), {"twice", "", 0});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ESTALE);
  EXPECT_EQ(store->heartbeat(id, r.lease(), 1s).error().code, ESTALE);
  EXPECT_EQ(must(store->get(id), "get").result_text, "hello world");
}

TEST_F(JobStore, UnknownJobsAndBadArgumentsAreErrorValues) {
  EXPECT_EQ(store->get("nope").error().code, ENOENT);
  EXPECT_EQ(store->cancel("nope").error().code, ENOENT);
  EXPECT_EQ(store->complete("nope", Lease{worker(1), 1}, {}).error().code, ENOENT);

  JobSpec bad = spec_named("a");
  bad.params = "{not json";
  EXPECT_EQ(store->submit(bad).error().code, EINVAL);
  bad.params = "[1, 2]";  // valid JSON, but not an object
  EXPECT_EQ(store->submit(bad).error().code, EINVAL);
  bad = spec_named("a");
  bad.max_attempts = 0;
  EXPECT_EQ(store->submit(bad).error().code, EINVAL);
  EXPECT_EQ(store->claim_next(LeaseOwner{"", 5}, 1s).error().code, EINVAL);
  EXPECT_EQ(store->claim_next(worker(0), 1s).error().code, EINVAL);

  JobSpec empty_params = spec_named("b");
  empty_params.params.clear();
  const std::string id = must(store->submit(empty_params), "submit");
  EXPECT_EQ(must(store->get(id), "get").spec.params, "{}");
  Job j = claim(*store, worker(1));
  EXPECT_EQ(store->report_progress(id, j.lease(), 1.5).error().code, EINVAL);
  EXPECT_EQ(store->report_progress(id, j.lease(), std::nan("")).error().code, EINVAL);
  EXPECT_EQ(store->report_progress(id, j.lease(), -0.1).error().code, EINVAL);
  EXPECT_EQ(must(store->queue_length(), "queue_length"), 0);
}

TEST_F(JobStore, EmptyQueueClaimsNothing) {
  EXPECT_FALSE(must(store->claim_next(worker(1), 1s), "claim"));
}

TEST_F(JobStore, DedupKeyMakesSubmitIdempotent) {
  JobSpec s = spec_named("voice.ogg");
  s.dedup_key = "tg:update:1001";
  const std::string a = must(store->submit(s), "first");
  const std::string b = must(store->submit(s), "second");
  EXPECT_EQ(a, b);
  s.dedup_key = "tg:update:1002";
  EXPECT_NE(must(store->submit(s), "third"), a);
  s.dedup_key.reset();  // no key: always a new job
  EXPECT_NE(must(store->submit(s), "fourth"), must(store->submit(s), "fifth"));
  EXPECT_EQ(must(store->queue_length(), "queue_length"), 4);
}

TEST_F(JobStore, ClaimsHighestPriorityThenOldest) {
  const std::string low = must(store->submit(spec_named("low", -1)), "low");
  const std::string mid1 = must(store->submit(spec_named("mid1", 0)), "mid1");
  const std::string high1 = must(store->submit(spec_named("high1", 10)), "high1");
  const std::string mid2 = must(store->submit(spec_named("mid2", 0)), "mid2");
  const std::string high2 = must(store->submit(spec_named("high2", 10)), "high2");

  EXPECT_EQ(claim(*store, worker(1)).id, high1);
  Job h2 = claim(*store, worker(1));
  EXPECT_EQ(h2.id, high2);
  Job m1 = claim(*store, worker(1));
  EXPECT_EQ(m1.id, mid1);
  // A retried job goes back to its old place, ahead of younger jobs of its priority.
  EXPECT_EQ(must(store->fail(mid1, m1.lease(), {"flaky", true, false, 0}), "fail"),
            JobState::queued);
  EXPECT_EQ(claim(*store, worker(1)).id, mid1);
  EXPECT_EQ(claim(*store, worker(1)).id, mid2);
  EXPECT_EQ(claim(*store, worker(1)).id, low);
  EXPECT_FALSE(must(store->claim_next(worker(1), 1s), "claim"));
}

TEST_F(JobStore, ExpiredLeaseIsRecoveredWithoutUsingAnAttempt) {
  const std::string id = must(store->submit(spec_named("a")), "submit");
  const TimeMs t0 = clock.now();
  Job r = claim(*store, worker(7), 1000ms);

  auto nothing = must(store->recover(t0 + 500ms, {}), "recover early");
  EXPECT_TRUE(nothing.requeued.empty());
  clock.advance(900ms);
  must(store->heartbeat(id, r.lease(), 1000ms), "heartbeat");  // now expires at t0 + 1900
  EXPECT_TRUE(must(store->recover(t0 + 1500ms, {}), "recover").requeued.empty());
  EXPECT_EQ(must(store->get(id), "get").state, JobState::running);

  auto rep = must(store->recover(t0 + 1900ms, {}), "recover at expiry");
  ASSERT_EQ(rep.requeued, std::vector<std::string>{id});
  Job q = must(store->get(id), "get");
  EXPECT_EQ(q.state, JobState::queued);
  EXPECT_EQ(q.attempts, 0);
  EXPECT_EQ(q.degrade, 0);
  EXPECT_FALSE(q.lease_owner);
  EXPECT_NE(q.last_error.find("lease expired"), std::string::npos) << q.last_error;

  Job again = claim(*store, worker(8));
  EXPECT_EQ(again.runs, 2);
  must(store->complete(id, again.lease(), {"ok", "", 0}), "complete");
}

TEST_F(JobStore, RecoverRequeuesJobsOfGoneOwnersBeforeExpiry) {
  const std::string a = must(store->submit(spec_named("a")), "a");
  const std::string b = must(store->submit(spec_named("b")), "b");
  claim(*store, worker(100), 1h);
  claim(*store, worker(200), 1h);
  RecoverParams p;
  p.owner_alive = [](const LeaseOwner& o) { return o.pid != 100; };
  auto rep = must(store->recover(clock.now(), p), "recover");
  EXPECT_EQ(rep.requeued, std::vector<std::string>{a});
  EXPECT_EQ(must(store->get(a), "a").state, JobState::queued);
  EXPECT_EQ(must(store->get(b), "b").state, JobState::running);
  EXPECT_NE(must(store->get(a), "a").last_error.find("gone"), std::string::npos);
}

TEST_F(JobStore, RecoverCountsAttemptsOnlyWhenConfigured) {
  JobSpec s = spec_named("poison");
  s.max_attempts = 2;
  const std::string id = must(store->submit(s), "submit");
  RecoverParams p;
  p.count_attempt = true;
  p.degrade = true;

  claim(*store, worker(1), 1s);
  clock.advance(2s);
  EXPECT_EQ(must(store->recover(clock.now(), p), "recover 1").requeued.size(), 1u);
  Job q = must(store->get(id), "get");
  EXPECT_EQ(q.attempts, 1);
  EXPECT_EQ(q.degrade, 1);

  claim(*store, worker(1), 1s);
  clock.advance(2s);
  auto rep = must(store->recover(clock.now(), p), "recover 2");
  EXPECT_EQ(rep.failed, std::vector<std::string>{id});
  Job f = must(store->get(id), "get");
  EXPECT_EQ(f.state, JobState::failed);
  EXPECT_EQ(f.attempts, 2);
  EXPECT_TRUE(f.finished_at);
  EXPECT_NE(f.last_error.find("gave up after 2 attempts"), std::string::npos) << f.last_error;
}

TEST_F(JobStore, StaleWorkerCannotCompleteFailOrRenew) {
  const std::string id = must(store->submit(spec_named("a")), "submit");
  Job a = claim(*store, worker(1), 1s);
  clock.advance(2s);
  must(store->recover(clock.now(), {}), "recover");
  Job b = claim(*store, worker(2), 10s);
  ASSERT_EQ(b.id, id);

  auto late = store->complete(id, a.lease(), {"from the stale worker", "", 0});
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, ESTALE);
  EXPECT_NE(late.error().message.find("run 2 by test-node/2"), std::string::npos)
      << late.error().message;
  EXPECT_EQ(store->fail(id, a.lease(), {"x", true, true, 0}).error().code, ESTALE);
  EXPECT_EQ(store->heartbeat(id, a.lease(), 10s).error().code, ESTALE);
  EXPECT_EQ(store->report_progress(id, a.lease(), 0.5).error().code, ESTALE);

  must(store->complete(id, b.lease(), {"from the current worker", "", 0}), "complete");
  EXPECT_EQ(must(store->get(id), "get").result_text, "from the current worker");
}

TEST_F(JobStore, RunNumberFencesTheSameOwnerAcrossReclaims) {
  // The same node/pid claims again (a restarted service that got its old pid back): the old
  // run's late call must still be rejected.
  const std::string id = must(store->submit(spec_named("a")), "submit");
  Job first = claim(*store, worker(5), 1s);
  clock.advance(2s);
  must(store->recover(clock.now(), {}), "recover");
  Job second = claim(*store, worker(5), 10s);
  EXPECT_EQ(second.runs, first.runs + 1);
  EXPECT_EQ(store->complete(id, first.lease(), {"old", "", 0}).error().code, ESTALE);
  must(store->complete(id, second.lease(), {"new", "", 0}), "complete");
}

TEST_F(JobStore, RetryableFailuresDegradeUntilMaxAttemptsThenFail) {
  JobSpec s = spec_named("big.wav");
  s.max_attempts = 3;
  const std::string id = must(store->submit(s), "submit");
  for (int attempt = 1; attempt <= 2; ++attempt) {
    Job j = claim(*store, worker(1));
    EXPECT_EQ(j.degrade, attempt - 1);
    const Failure oom{"worker OOM-killed", true, true, std::uint64_t(attempt) << 30};
    EXPECT_EQ(must(store->fail(id, j.lease(), oom), "fail"), JobState::queued);
    Job q = must(store->get(id), "get");
    EXPECT_EQ(q.attempts, attempt);
    EXPECT_EQ(q.degrade, attempt);
    EXPECT_DOUBLE_EQ(q.progress, 0.0);
    EXPECT_NE(q.last_error.find("worker OOM-killed"), std::string::npos);
  }
  Job last = claim(*store, worker(1));
  EXPECT_EQ(last.degrade, 2);
  EXPECT_EQ(
      must(store->fail(id, last.lease(), {"worker OOM-killed", true, true, 1u << 20}), "fail"),
      JobState::failed);
  Job f = must(store->get(id), "get");
  EXPECT_EQ(f.state, JobState::failed);
  EXPECT_EQ(f.attempts, 3);
  EXPECT_EQ(f.observed_peak_bytes, 2u << 30);  // the largest any run reported
  EXPECT_EQ(f.last_error, "gave up after 3 attempts; last: worker OOM-killed");
  EXPECT_FALSE(must(store->claim_next(worker(1), 1s), "claim"));
}

TEST_F(JobStore, NonRetryableFailureFailsAtOnceAndPlainRetryKeepsDegrade) {
  const std::string a = must(store->submit(spec_named("a")), "a");
  Job ja = claim(*store, worker(1));
  EXPECT_EQ(must(store->fail(a, ja.lease(), {"unsupported codec", false, false, 0}), "fail"),
            JobState::failed);
  EXPECT_EQ(must(store->get(a), "a").last_error, "attempt 1/3 failed: unsupported codec");

  const std::string b = must(store->submit(spec_named("b")), "b");
  Job jb = claim(*store, worker(1));
  EXPECT_EQ(must(store->fail(b, jb.lease(), {"disk full", true, false, 0}), "fail"),
            JobState::queued);
  EXPECT_EQ(must(store->get(b), "b").degrade, 0);
}

TEST_F(JobStore, CancelQueuedRunningAndFinished) {
  const std::string q = must(store->submit(spec_named("q")), "q");
  EXPECT_EQ(must(store->cancel(q), "cancel queued"), JobState::cancelled);
  Job cq = must(store->get(q), "get");
  EXPECT_EQ(cq.state, JobState::cancelled);
  EXPECT_TRUE(cq.finished_at);
  EXPECT_FALSE(must(store->claim_next(worker(1), 1s), "claim"));

  const std::string r = must(store->submit(spec_named("r")), "r");
  Job jr = claim(*store, worker(1));
  EXPECT_EQ(store->mark_cancelled(r, jr.lease()).error().code, EINVAL);  // nobody asked
  EXPECT_EQ(must(store->cancel(r), "cancel running"), JobState::running);
  EXPECT_TRUE(must(store->get(r), "get").cancel_requested);
  EXPECT_TRUE(must(store->heartbeat(r, jr.lease(), 10s), "heartbeat").cancel_requested);
  EXPECT_TRUE(must(store->report_progress(r, jr.lease(), 0.5), "progress").cancel_requested);
  must(store->mark_cancelled(r, jr.lease()), "mark_cancelled");
  EXPECT_EQ(must(store->get(r), "get").state, JobState::cancelled);

  // A finished job stays as it was; cancelling again is harmless.
  EXPECT_EQ(must(store->cancel(r), "cancel again"), JobState::cancelled);
  const std::string d = must(store->submit(spec_named("d")), "d");
  must(store->complete(d, claim(*store, worker(1)).lease(), {"t", "", 0}), "complete");
  EXPECT_EQ(must(store->cancel(d), "cancel done"), JobState::succeeded);
}

TEST_F(JobStore, CancelRequestedRunsEndCancelledNotRequeued) {
  const std::string a = must(store->submit(spec_named("a")), "a");
  Job ja = claim(*store, worker(1));
  must(store->cancel(a), "cancel");
  // The runner's kill looked like an OOM kill: still, the user asked to stop.
  EXPECT_EQ(must(store->fail(a, ja.lease(), {"killed", true, true, 0}), "fail"),
            JobState::cancelled);

  const std::string b = must(store->submit(spec_named("b")), "b");
  claim(*store, worker(1), 1s);
  must(store->cancel(b), "cancel");
  clock.advance(2s);
  auto rep = must(store->recover(clock.now(), {}), "recover");
  EXPECT_EQ(rep.cancelled, std::vector<std::string>{b});
  EXPECT_EQ(must(store->get(b), "b").state, JobState::cancelled);
}

TEST_F(JobStore, ReleaseRequeuesWithoutUsingAnAttempt) {
  const std::string id = must(store->submit(spec_named("a")), "submit");
  Job j = claim(*store, worker(1));
  must(store->report_progress(id, j.lease(), 0.7), "progress");
  must(store->release(id, j.lease()), "release");
  Job q = must(store->get(id), "get");
  EXPECT_EQ(q.state, JobState::queued);
  EXPECT_EQ(q.attempts, 0);
  EXPECT_DOUBLE_EQ(q.progress, 0.0);
  EXPECT_EQ(store->release(id, j.lease()).error().code, ESTALE);
  EXPECT_EQ(claim(*store, worker(2)).runs, 2);
}

// ---- Failure kinds ----

TEST_F(JobStore, FailureKindIsKeptOnlyWhileTheJobIsFailed) {
  // Failed at once: the kind the runner gave.
  const std::string a = must(store->submit(spec_named("a")), "a");
  EXPECT_EQ(must(store->get(a), "queued").failure_kind, FailureKind::none);
  Failure bad{"the file is truncated", false, false, 0, FailureKind::invalid_input};
  EXPECT_EQ(must(store->fail(a, claim(*store, worker(1)).lease(), bad), "fail"), JobState::failed);
  EXPECT_EQ(must(store->get(a), "a").failure_kind, FailureKind::invalid_input);
  EXPECT_EQ(must(store->list({{JobState::failed}, "", 10}), "list").at(0).failure_kind,
            FailureKind::invalid_input);

  // Retried: none while re-queued, the last run's kind once out of attempts.
  JobSpec s = spec_named("b");
  s.max_attempts = 2;
  const std::string b = must(store->submit(s), "b");
  Failure oom{"OOM-killed", true, true, 0, FailureKind::oom_killed};
  EXPECT_EQ(must(store->fail(b, claim(*store, worker(1)).lease(), oom), "fail 1"), JobState::queued);
  EXPECT_EQ(must(store->get(b), "b queued").failure_kind, FailureKind::none);
  Failure crash{"crashed", true, false, 0, FailureKind::crashed};
  EXPECT_EQ(must(store->fail(b, claim(*store, worker(1)).lease(), crash), "fail 2"), JobState::failed);
  EXPECT_EQ(must(store->get(b), "b failed").failure_kind, FailureKind::crashed);

  // A failure nobody classified is still a failure: internal.
  const std::string c = must(store->submit(spec_named("c")), "c");
  Failure unset{"?", false, false, 0, FailureKind::none};
  must(store->fail(c, claim(*store, worker(1)).lease(), unset), "fail c");
  EXPECT_EQ(must(store->get(c), "c").failure_kind, FailureKind::internal);

  // Cancelled while its run failed: cancelled, no kind.
  const std::string d = must(store->submit(spec_named("d")), "d");
  Job jd = claim(*store, worker(1));
  must(store->cancel(d), "cancel d");
  EXPECT_EQ(must(store->fail(d, jd.lease(), bad), "fail d"), JobState::cancelled);
  EXPECT_EQ(must(store->get(d), "d").failure_kind, FailureKind::none);

  // Succeeded: none.
  const std::string e = must(store->submit(spec_named("e")), "e");
  must(store->complete(e, claim(*store, worker(1)).lease(), {"t", "", 0}), "complete e");
  EXPECT_EQ(must(store->get(e), "e").failure_kind, FailureKind::none);
}

TEST_F(JobStore, RecoverFailsInterruptedJobsAsInternal) {
  JobSpec s = spec_named("poison");
  s.max_attempts = 1;
  const std::string id = must(store->submit(s), "submit");
  claim(*store, worker(1), 1s);
  RecoverParams p;
  p.count_attempt = true;
  clock.advance(2s);
  EXPECT_EQ(must(store->recover(clock.now(), p), "recover").failed, std::vector<std::string>{id});
  EXPECT_EQ(must(store->get(id), "get").failure_kind, FailureKind::internal);
}

TEST(JobStoreSchema, Version1DatabasesGetFailureKinds) {
  TempDir dir;
  const std::string db = dir.file("jobs.db");
  std::string user_bad, ours, ok;
  {
    auto store = open_store(db);
    user_bad = must(store->submit(spec_named("bad.wav")), "submit");
    ours = must(store->submit(spec_named("x.wav")), "submit");
    ok = must(store->submit(spec_named("ok.wav")), "submit");
    must(store->fail(user_bad, claim(*store, worker(1)).lease(),
                     {"invalid input: the file is truncated", false, false, 0}),
         "fail");
    must(store->fail(ours, claim(*store, worker(1)).lease(), {"worker crashed", false, false, 0}), "fail");
  }
  {
    // Back to what version 1 wrote: no failure_kind column.
    auto c = must(sqlite::Connection::open(db, 1s), "raw open");
    must(c.exec("DROP INDEX jobs_running_owner; ALTER TABLE jobs DROP COLUMN max_running_per_owner; "
                "ALTER TABLE jobs DROP COLUMN failure_kind; PRAGMA user_version = 1"),
         "downgrade");
  }
  auto store = open_store(db);
  {
    auto c = must(sqlite::Connection::open(db, 1s), "raw open");
    EXPECT_EQ(must(schema::user_version(c), "user_version"), schema::kVersion);
  }
  EXPECT_EQ(must(store->get(user_bad), "bad").failure_kind, FailureKind::invalid_input);
  EXPECT_EQ(must(store->get(ours), "ours").failure_kind, FailureKind::internal);
  EXPECT_EQ(must(store->get(ok), "ok").failure_kind, FailureKind::none);
  EXPECT_EQ(must(store->get(ok), "ok").state, JobState::queued);
  EXPECT_TRUE(must(store->integrity_ok(), "integrity"));
}

TEST(JobStoreSchema, Version2DatabasesGetNoOwnerLimit) {
  TempDir dir;
  const std::string db = dir.file("jobs.db");
  std::string id;
  {
    auto store = open_store(db);
    JobSpec s = spec_named("a.wav");
    s.max_running_per_owner = 2;
    id = must(store->submit(s), "submit");
    EXPECT_EQ(must(store->get(id), "get").spec.max_running_per_owner, 2);
  }
  {
    auto c = must(sqlite::Connection::open(db, 1s), "raw open");
    must(c.exec("DROP INDEX jobs_running_owner; ALTER TABLE jobs DROP COLUMN max_running_per_owner; "
                "PRAGMA user_version = 2"),
         "downgrade");
  }
  auto store = open_store(db);
  EXPECT_EQ(must(store->get(id), "get").spec.max_running_per_owner, 0);
  EXPECT_EQ(claim(*store, worker(1)).id, id);
  EXPECT_TRUE(must(store->integrity_ok(), "integrity"));
}

TEST_F(JobStore, PlaceInLineFollowsPriorityThenAge) {
  const auto a = must(store->submit(spec_named("a")), "a");
  JobSpec urgent = spec_named("b");
  urgent.priority = 5;
  const auto b = must(store->submit(urgent), "b");
  const auto c = must(store->submit(spec_named("c")), "c");
  EXPECT_EQ(must(store->queue_position(b), "b"), 1);
  EXPECT_EQ(must(store->queue_position(a), "a"), 2);
  EXPECT_EQ(must(store->queue_position(c), "c"), 3);
  claim(*store, worker(1));  // b runs: no longer in line
  EXPECT_EQ(must(store->queue_position(b), "b"), 0);
  EXPECT_EQ(must(store->queue_position(c), "c"), 2);
  EXPECT_EQ(store->queue_position("01NOSUCHJOB").error().code, ENOENT);
}

// The chooser sees the queue in order, page by page, with the running jobs per owner; what it
// passes over stays queued in its place.
TEST_F(JobStore, AChooserPicksPastPagesAndSeesRunningOwners) {
  std::vector<std::string> ids;
  for (int i = 0; i < 70; ++i) {  // more than one page of 64
    JobSpec s = spec_named("f" + std::to_string(i));
    s.submitter = i < 69 ? "tg:1" : "tg:2";
    s.max_running_per_owner = 1;
    ids.push_back(must(store->submit(s), "submit"));
  }
  claim(*store, worker(1));  // ids[0]: tg:1 runs one
  std::vector<std::size_t> pages;
  RunningByOwner seen;
  auto pick = [&](const std::vector<ClaimCandidate>& page, const RunningByOwner& running) -> std::optional<std::size_t> {
    pages.push_back(page.size());
    seen = running;
    for (std::size_t i = 0; i < page.size(); ++i)
      if (page[i].owner == "tg:2") return i;
    return std::nullopt;
  };
  auto j = must(store->claim_next(worker(1), 1min, pick), "claim");
  ASSERT_TRUE(j);
  EXPECT_EQ(j->id, ids[69]);
  EXPECT_EQ(pages, (std::vector<std::size_t>{64, 5}));
  EXPECT_EQ(seen, (RunningByOwner{{"tg:1", 1}}));
  EXPECT_EQ(must(store->queue_position(ids[1]), "1"), 1);
  auto none = must(store->claim_next(worker(1), 1min,
                                     [](const auto&, const auto&) { return std::optional<std::size_t>{}; }),
                   "claim none");
  EXPECT_FALSE(none);
  EXPECT_EQ(must(store->get(ids[1]), "1").state, JobState::queued);
}

TEST_F(JobStore, ListFiltersByStateAndSubmitterNewestFirst) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    JobSpec s = spec_named("f" + std::to_string(i));
    s.submitter = i % 2 ? "tg:1" : "http:x";
    ids.push_back(must(store->submit(s), "submit"));
  }
  must(store->complete(ids[0], claim(*store, worker(1)).lease(), {"", "", 0}), "complete");
  claim(*store, worker(1));  // ids[1] running

  auto all = must(store->list({}), "list all");
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all.front().id, ids[4]);
  EXPECT_EQ(all.back().id, ids[0]);

  auto queued = must(store->list({{JobState::queued}, "", 100}), "list queued");
  ASSERT_EQ(queued.size(), 3u);
  for (const Job& j : queued) EXPECT_EQ(j.state, JobState::queued);

  auto active = must(store->list({{JobState::queued, JobState::running}, "tg:1", 100}), "tg");
  ASSERT_EQ(active.size(), 2u);  // ids[3] queued, ids[1] running
  EXPECT_EQ(active[0].id, ids[3]);
  EXPECT_EQ(active[1].id, ids[1]);

  EXPECT_EQ(must(store->list({{}, "", 2}), "limit").size(), 2u);
}

TEST_F(JobStore, CountsByStateAndQueueLength) {
  for (int i = 0; i < 6; ++i) must(store->submit(spec_named("j" + std::to_string(i))), "submit");
  Job a = claim(*store, worker(1));
  Job b = claim(*store, worker(1));
  claim(*store, worker(1));
  must(store->complete(a.id, a.lease(), {}), "complete");
  must(store->fail(b.id, b.lease(), {"bad", false, false, 0}), "fail");
  auto list = must(store->list({{JobState::queued}, "", 1}), "list");
  must(store->cancel(list.at(0).id), "cancel");

  StateCounts c = must(store->counts(), "counts");
  EXPECT_EQ(c.of(JobState::queued), 2);
  EXPECT_EQ(c.of(JobState::running), 1);
  EXPECT_EQ(c.of(JobState::succeeded), 1);
  EXPECT_EQ(c.of(JobState::failed), 1);
  EXPECT_EQ(c.of(JobState::cancelled), 1);
  EXPECT_EQ(c.total(), 6);
  EXPECT_EQ(must(store->queue_length(), "queue_length"), 2);
}

TEST_F(JobStore, PurgeDeletesOldFinishedJobsAndReturnsTheirFiles) {
  const TimeMs t0 = clock.now();
  const std::string done = must(store->submit(spec_named("done.ogg")), "done");
  must(store->complete(done, claim(*store, worker(1)).lease(), {"", "/state/out/done.txt", 0}),
       "complete");
  const std::string cancelled = must(store->submit(spec_named("cancelled.ogg")), "cancelled");
  must(store->cancel(cancelled), "cancel");
  clock.advance(10s);
  const std::string recent = must(store->submit(spec_named("recent.ogg")), "recent");
  must(store->complete(recent, claim(*store, worker(1)).lease(), {"text", "", 0}), "complete");
  const std::string running = must(store->submit(spec_named("running.ogg")), "running");
  ASSERT_EQ(claim(*store, worker(1)).id, running);
  const std::string queued = must(store->submit(spec_named("queued.ogg")), "queued");

  PurgeReport rep = must(store->purge(t0 + 5s), "purge");
  EXPECT_EQ(rep.jobs, 2);
  std::vector<std::string> files;
  for (const auto& p : rep.purged) {
    EXPECT_EQ(p.params, "{}") << "each job's params come with its files";
    files.push_back(p.input_path + " -> " + p.result_path);
  }
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"/state/in/cancelled.ogg -> ", "/state/in/done.ogg -> /state/out/done.txt"}));
  EXPECT_EQ(store->get(done).error().code, ENOENT);
  EXPECT_EQ(store->get(cancelled).error().code, ENOENT);
  for (const auto& id : {recent, queued, running}) EXPECT_TRUE(store->get(id)) << id;
  EXPECT_EQ(must(store->purge(t0 + 5s), "purge again").jobs, 0);

  // Ids and sequence numbers of purged jobs are never handed out again.
  const std::int64_t max_seq = must(store->get(queued), "get").seq;
  const std::string next = must(store->submit(spec_named("next.ogg")), "next");
  EXPECT_GT(must(store->get(next), "get").seq, max_seq);
  EXPECT_NE(next, done);
}

// ---- Concurrency: threads ----

// Claims until the queue is empty, completing each job after `work`; returns the ids it got.
std::vector<std::string> drain(JobQueue& q, const LeaseOwner& me,
                               std::chrono::microseconds work = {}) {
  std::vector<std::string> got;
  for (;;) {
    auto j = q.claim_next(me, 30s);
    if (!j) throw std::runtime_error("claim: " + j.error().message);
    if (!*j) return got;
    got.push_back((*j)->id);
    if (work.count() > 0) std::this_thread::sleep_for(work);
    must(q.complete((*j)->id, (*j)->lease(), {"done", "", 0}), "complete");
  }
}

void expect_each_claimed_once(const std::vector<std::vector<std::string>>& per_claimer,
                              std::size_t jobs) {
  std::map<std::string, int> seen;
  std::size_t total = 0;
  for (const auto& v : per_claimer) {
    total += v.size();
    for (const auto& id : v) ++seen[id];
  }
  EXPECT_EQ(total, jobs);
  EXPECT_EQ(seen.size(), jobs);
  for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << id << " was claimed " << n << " times";
}

TEST(JobStoreConcurrency, ThreadsSharingOneStoreClaimEachJobOnce) {
  TempDir dir;
  auto store = open_store(dir.file("jobs.db"));
  constexpr std::size_t kJobs = 200, kThreads = 6;
  for (std::size_t i = 0; i < kJobs; ++i) must(store->submit(spec_named("t")), "submit");
  std::vector<std::vector<std::string>> got(kThreads);
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (std::size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        got[t] = drain(*store, worker(static_cast<std::int64_t>(1000 + t)));
      } catch (const std::exception& e) {
        ++errors;
        std::cerr << e.what() << "\n";
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors, 0);
  expect_each_claimed_once(got, kJobs);
  EXPECT_EQ(must(store->counts(), "counts").of(JobState::succeeded), std::int64_t{kJobs});
}

TEST(JobStoreConcurrency, ThreadsWithTheirOwnConnectionsClaimEachJobOnce) {
  // Separate connections contend through SQLite's file locks, as separate processes do.
  TempDir dir;
  const std::string db = dir.file("jobs.db");
  constexpr std::size_t kJobs = 200, kThreads = 4;
  {
    auto store = open_store(db);
    for (std::size_t i = 0; i < kJobs; ++i) must(store->submit(spec_named("t")), "submit");
  }
  std::vector<std::unique_ptr<SqliteJobStore>> stores;
  for (std::size_t t = 0; t < kThreads; ++t) stores.push_back(open_store(db));
  std::vector<std::vector<std::string>> got(kThreads);
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (std::size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        got[t] = drain(*stores[t], worker(static_cast<std::int64_t>(2000 + t)));
      } catch (const std::exception& e) {
        ++errors;
        std::cerr << e.what() << "\n";
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors, 0);
  expect_each_claimed_once(got, kJobs);
}

TEST(JobStoreConcurrency, ClaimThroughput) {
  // A figure for the synchronous=FULL choice: claim + complete, one fsync each.
  TempDir dir;
  auto store = open_store(dir.file("jobs.db"));
  constexpr int kJobs = 300;
  for (int i = 0; i < kJobs; ++i) must(store->submit(spec_named("t")), "submit");
  const auto t0 = std::chrono::steady_clock::now();
  const auto got = drain(*store, self_owner());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(got.size(), std::size_t{kJobs});
  std::cout << "[ figures  ] " << kJobs << " claim+complete pairs in " << secs * 1000
            << " ms: " << kJobs / secs << " jobs/s (2 fsyncs each)\n";
  // Far below what any disk does; fails only if something serialises on a timeout.
  EXPECT_GT(kJobs / secs, 20.0);
}

// ---- Concurrency and crashes: processes ----

TEST(JobStoreProcesses, ForkedClaimersClaimEachJobOnce) {
  TempDir dir;
  const std::string db = dir.file("jobs.db");
  constexpr std::size_t kJobs = 200;
  constexpr int kProcs = 4;
  {
    auto store = open_store(db);
    for (std::size_t i = 0; i < kJobs; ++i) must(store->submit(spec_named("p")), "submit");
  }  // closed before fork (see spawn)
  std::vector<Pipe> pipes(kProcs);
  Pipe go;
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; ++p) {
    kids.push_back(spawn([&, p] {
      go.write.reset();
      (void)read_all(go.read.get());
      auto store = SqliteJobStore::open(default_sqlite_params(db));
      if (!store) return 2;
      std::string out;
      // 2 ms of "work" outside the transactions, as a real worker has, so the others find
      // the lock free and the claims interleave.
      for (const auto& id : drain(**store, self_owner(), 2ms)) out += id + "\n";
      return write_all(pipes[static_cast<std::size_t>(p)].write.get(), out) ? 0 : 3;
    }));
  }
  const auto t0 = std::chrono::steady_clock::now();
  go.write.reset();
  std::vector<std::vector<std::string>> got;
  for (auto& p : pipes) {
    p.write.reset();
    got.push_back(lines_of(read_all(p.read.get())));
  }
  for (pid_t k : kids) EXPECT_EQ(wait_child(k), 0);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  expect_each_claimed_once(got, kJobs);
  std::string shares;
  int claimers = 0;
  for (const auto& g : got) {
    shares += (shares.empty() ? "" : "/") + std::to_string(g.size());
    claimers += g.empty() ? 0 : 1;
  }
  std::cout << "[ figures  ] " << kProcs << " processes: " << kJobs << " claim+complete pairs in "
            << secs * 1000 << " ms (" << kJobs / secs << " jobs/s); shares " << shares << "\n";
  EXPECT_GE(claimers, 2) << "the claims did not interleave (" << shares << "): no race tested";
  auto store = open_store(db);
  EXPECT_EQ(must(store->counts(), "counts").of(JobState::succeeded), std::int64_t{kJobs});
}

TEST(JobStoreProcesses, LocalOwnerAliveSeesDeadPidsOnThisNodeOnly) {
  const pid_t kid = spawn([] { return 0; });
  ASSERT_EQ(wait_child(kid), 0);  // reaped: the pid no longer exists
  auto alive = local_owner_alive(std::string(kNode));
  EXPECT_FALSE(alive(worker(kid)));
  EXPECT_TRUE(alive(self_owner()));
  EXPECT_TRUE(alive(LeaseOwner{"other-node", kid}));  // not ours to judge
  EXPECT_FALSE(process_alive(0));
  EXPECT_FALSE(process_alive(-1));
}

// A child that runs `op` on the store and is SIGKILLed inside that operation's transaction,
// just before COMMIT. Returns once the child is dead and reaped.
void kill_inside_transaction(const std::string& db, const std::string& op,
                             const std::function<void(JobQueue&)>& run) {
  Pipe ready;
  const pid_t kid = spawn([&] {
    auto p = default_sqlite_params(db);
    p.before_commit = [&](std::string_view at) {
      if (at != op) return;
      (void)write_all(ready.write.get(), "x");
      for (;;) ::pause();  // holding the write lock, mid-transaction, until killed
    };
    auto store = SqliteJobStore::open(std::move(p));
    if (!store) return 2;
    run(**store);
    return 3;  // the hook never returned
  });
  ready.write.reset();
  const std::string got = [&] {
    char c = 0;
    return ::read(ready.read.get(), &c, 1) == 1 ? std::string(1, c) : std::string();
  }();
  ::kill(kid, SIGKILL);
  ASSERT_EQ(wait_child(kid), -SIGKILL);
  ASSERT_EQ(got, "x") << "the child never reached COMMIT of " << op;
}

TEST(JobStoreProcesses, KilledMidClaimLeavesTheJobQueued) {
  TempDir dir;
  const std::string db = dir.file("jobs.db");
  std::string id;
  {
    auto store = open_store(db);
    id = must(store->submit(spec_named("a")), "submit");
  }
  kill_inside_transaction(db, "claim", [](JobQueue& q) { (void)q.claim_next(self_owner(), 1h); });

  auto store = open_store(db);
  EXPECT_TRUE(must(store->integrity_ok(), "integrity"));
  Job j = must(store->get(id), "get");
  EXPECT_EQ(j.state, JobState::queued);  // the claim never happened
  EXPECT_EQ(j.runs, 0);
  Job c = claim(*store, self_owner());
  EXPECT_EQ(c.id, id);
  must(store->complete(id, c.lease(), {"ok", "", 0}), "complete");
}

TEST(JobStoreProcesses, KilledMidCompletionIsRecoveredAndRunsAgain) {
  TempDir dir;
  const std::string db = dir.file("jobs.db");
  std::string id;
  {
    auto store = open_store(db);
    id = must(store->submit(spec_named("a")), "submit");
  }
  // The child claims (committed), then dies inside complete(): the job is running under a
  // lease whose holder is gone, with a lease that would last an hour.
  std::int64_t child_pid = 0;
  kill_inside_transaction(db, "complete", [](JobQueue& q) {
    auto j = q.claim_next(self_owner(), 1h);
    if (j && *j) (void)q.complete((*j)->id, (*j)->lease(), {"never stored", "", 0});
  });
  auto store = open_store(db);
  EXPECT_TRUE(must(store->integrity_ok(), "integrity"));
  Job j = must(store->get(id), "get");
  ASSERT_EQ(j.state, JobState::running);
  ASSERT_TRUE(j.lease_owner);
  child_pid = j.lease_owner->pid;
  EXPECT_NE(child_pid, ::getpid());
  EXPECT_EQ(j.result_text, "");

  RecoverParams p;
  p.owner_alive = local_owner_alive(std::string(kNode));
  EXPECT_EQ(must(store->recover(now_ms(), p), "recover").requeued, std::vector<std::string>{id});
  Job again = claim(*store, self_owner());
  EXPECT_EQ(again.runs, 2);
  must(store->complete(id, again.lease(), {"stored", "", 0}), "complete");
  EXPECT_EQ(must(store->get(id), "get").result_text, "stored");
}

TEST(JobStoreProcesses, KilledDuringASubmitStormLosesNoCommittedJob) {
  TempDir dir;
  const std::string db = dir.file("jobs.db");
  { open_store(db); }
  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < 3; ++round) {
    Pipe ids;
    const pid_t kid = spawn([&] {
      auto store = SqliteJobStore::open(default_sqlite_params(db));
      if (!store) return 2;
      for (;;) {
        auto id = (*store)->submit(spec_named("storm"));
        if (!id) return 3;
        // Reported only after COMMIT returned: each of these must survive the kill.
        if (!write_all(ids.write.get(), *id + "\n")) return 4;
      }
    });
    ids.write.reset();
    // Wait for the first commit (a slow start under a sanitizer must not end the round before
    // anything happened), then kill at a random point of the storm.
    char first[64];
    const ssize_t n = ::read(ids.read.get(), first, sizeof first);
    ASSERT_GT(n, 0) << "the child exited before committing: " << wait_child(kid);
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 150));
    ::kill(kid, SIGKILL);
    ASSERT_EQ(wait_child(kid), -SIGKILL);
    const auto committed =
        lines_of(std::string(first, static_cast<std::size_t>(n)) + read_all(ids.read.get()));
    auto store = open_store(db);
    EXPECT_TRUE(must(store->integrity_ok(), "integrity"));
    ASSERT_FALSE(committed.empty()) << "the child committed nothing in time";
    for (const auto& id : committed) {
      // The last line may be cut by the kill; whole ids must all be there.
      if (id.size() == 26) {
        EXPECT_TRUE(store->get(id)) << id << " lost";
      }
    }
  }
}

// N jobs, racing worker processes, SIGKILLs at random, workers that stall past their lease,
// and a supervisor that recovers: every job must end succeeded, and no job may have its
// completion accepted twice.
TEST(JobStoreProcesses, RacingWorkersWithRandomKillsCompleteEachJobExactlyOnce) {
  TempDir dir;
  const std::string db = dir.file("jobs.db");
  const std::string log = dir.file("completions.log");
  constexpr int kJobs = 120, kWorkers = 4, kMaxKills = 12;
  constexpr auto kLease = 300ms;
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  {
    auto store = open_store(db);
    for (int i = 0; i < kJobs; ++i) {
      must(store->submit(spec_named("r" + std::to_string(i), static_cast<std::int32_t>(i % 3))),
           "submit");
    }
  }

  auto worker_main = [&](unsigned wseed) {
    auto opened = SqliteJobStore::open(default_sqlite_params(db));
    if (!opened) return 2;
    SqliteJobStore& s = **opened;
    Fd out(::open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644));
    if (!out) return 3;
    std::mt19937 r(wseed);
    const LeaseOwner me = self_owner();
    for (;;) {
      auto j = s.claim_next(me, kLease);
      if (!j) {
        if (j.error().code == EBUSY) continue;
        return 4;
      }
      if (!*j) {
        auto c = s.counts();
        if (c && c->of(JobState::succeeded) == kJobs) return 0;
        std::this_thread::sleep_for(5ms);
        continue;
      }
      const Job& job = **j;
      // One first run in six hangs past its lease: recover() hands the job to another
      // worker, and this one's late complete() must be refused (unless a SIGKILL comes first).
      if (job.runs == 1 && std::hash<std::string>{}(job.id) % 6 == 0) {
        std::this_thread::sleep_for(3 * kLease);
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(1 + r() % 8));
        (void)s.heartbeat(job.id, job.lease(), kLease);
      }
      const std::string result =
          "run " + std::to_string(job.runs) + " pid " + std::to_string(me.pid);
      auto done = s.complete(job.id, job.lease(), {result, "", 0});
      std::string line = done ? "done " : done.error().code == ESTALE ? "stale " : "error ";
      line += job.id + " " + result + "\n";
      if (!write_all(out.get(), line)) return 5;
      if (!done && done.error().code != ESTALE && done.error().code != EBUSY) return 6;
    }
  };

  std::vector<pid_t> workers;
  for (int i = 0; i < kWorkers; ++i) {
    workers.push_back(spawn([&, i] { return worker_main(seed + static_cast<unsigned>(i)); }));
  }
  int kills = 0, spawned = kWorkers;
  std::int64_t succeeded = 0;
  const auto deadline = std::chrono::steady_clock::now() + 18s;
  for (int tick = 0; std::chrono::steady_clock::now() < deadline; ++tick) {
    std::this_thread::sleep_for(50ms);
    {
      // The supervisor: what `soroka serve` does at start-up and then periodically. Opened
      // and closed around each use so that forks below never inherit an open store.
      auto store = open_store(db);
      RecoverParams p;
      p.owner_alive = local_owner_alive(std::string(kNode));
      must(store->recover(now_ms(), p), "recover");
      succeeded = must(store->counts(), "counts").of(JobState::succeeded);
    }
    if (succeeded == kJobs) break;
    if (tick % 3 == 0 && kills < kMaxKills) {
      const std::size_t victim = rng() % workers.size();
      ::kill(workers[victim], SIGKILL);
      // Reaped: its pid is gone now. 0: it had just seen the last job finish and exited.
      const int rc = wait_child(workers[victim]);
      EXPECT_TRUE(rc == -SIGKILL || rc == 0) << "worker exited with " << rc;
      ++kills;
      workers[victim] =
          spawn([&, s = seed + static_cast<unsigned>(spawned)] { return worker_main(s); });
      ++spawned;
    }
  }
  for (pid_t w : workers) {
    if (succeeded != kJobs) ::kill(w, SIGKILL);
    const int rc = wait_child(w);
    if (succeeded == kJobs) {
      EXPECT_EQ(rc, 0) << "worker " << w;
    }
  }
  ASSERT_EQ(succeeded, kJobs) << "not all jobs finished in time";

  std::ifstream in(log);
  std::map<std::string, std::vector<std::string>> accepted;  // id -> results accepted
  int stale = 0, lines = 0;
  for (std::string kind, id, run, rn, pid, pn; in >> kind >> id >> run >> rn >> pid >> pn;) {
    ++lines;
    if (kind == "done") accepted[id].push_back(run + " " + rn + " " + pid + " " + pn);
    if (kind == "stale") ++stale;
  }
  auto store = open_store(db);
  EXPECT_TRUE(must(store->integrity_ok(), "integrity"));
  auto jobs = must(store->list({{}, "", 1000}), "list");
  ASSERT_EQ(jobs.size(), std::size_t{kJobs});
  for (const Job& j : jobs) {
    EXPECT_EQ(j.state, JobState::succeeded) << j.id;
    EXPECT_EQ(j.attempts, 0) << j.id;  // interruptions do not count by default
    auto it = accepted.find(j.id);
    // A worker killed between COMMIT and its log line leaves none; never more than one.
    if (it == accepted.end()) continue;
    EXPECT_EQ(it->second.size(), 1u) << j.id << " completed more than once";
    EXPECT_EQ(it->second.front(), j.result_text) << j.id;
  }
  std::cout << "[ figures  ] " << kJobs << " jobs, " << spawned << " workers, " << kills
            << " SIGKILLs, " << stale << " stale completions refused, " << lines << " log lines\n";
  EXPECT_GT(kills, 0);
  EXPECT_GT(stale, 0) << "no stalled worker came back late: the scenario was not exercised";
}

}  // namespace
}  // namespace soroka::jobs

namespace soroka::jobs {
namespace {

// The queue and per-submitter limits are checked inside the insert's transaction: many
// threads submitting at once never overshoot them.
TEST(JobStoreQuota, ConcurrentSubmitsNeverOvershootTheQueueLimit) {
  TempDir dir;
  auto store = open_store(dir.file("jobs.sqlite"));
  std::atomic<int> ok{0}, busy{0}, other{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        JobSpec s = spec_named("q" + std::to_string(t) + "-" + std::to_string(i));
        s.max_queued = 7;
        auto r = store->submit(s);
        if (r) ++ok;
        else if (r.error().code == kQueueFull) ++busy;
        else ++other;
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok, 7);
  EXPECT_EQ(busy, 33);
  EXPECT_EQ(other, 0);
}

TEST(JobStoreQuota, PerSubmitterJobsAndBytes) {
  TempDir dir;
  auto store = open_store(dir.file("jobs.sqlite"));
  auto spec = [](const std::string& who, std::uint64_t bytes) {
    JobSpec s = spec_named(who + std::to_string(bytes));
    s.submitter = who;
    s.size_bytes = bytes;
    s.max_active_by_submitter = 2;
    s.max_bytes_by_submitter = 1000;
    return s;
  };
  EXPECT_TRUE(store->submit(spec("a", 100)));
  EXPECT_TRUE(store->submit(spec("a", 200)));
  auto r = store->submit(spec("a", 1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, kSubmitterQuota);
  EXPECT_TRUE(store->submit(spec("b", 900))) << "another submitter has its own share";
  auto big = spec("c", 600);
  big.max_active_by_submitter = 0;
  EXPECT_TRUE(store->submit(big));
  r = store->submit(spec("c", 500));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, kSubmitterQuota) << "600 + 500 bytes is over 1000";
}

}  // namespace
}  // namespace soroka::jobs

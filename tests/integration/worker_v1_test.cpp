// Integration: the worker supervisor on real cgroup v1: OOM kills, crashes, timeouts, cleanup.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "support/cgroup_v1.h"
#include "worker/line_channel.h"
#include "worker/supervisor.h"

namespace soroka::worker {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr const char* kMount = test::V1Cgroup::kMount;

std::string slurp(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool dir_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Entries of the v1 mount whose names start with `prefix`.
std::vector<std::string> entries_with_prefix(const std::string& prefix) {
  std::vector<std::string> out;
  DIR* d = ::opendir(kMount);
  if (!d) return out;
  while (auto* e = ::readdir(d))
    if (std::string_view(e->d_name).starts_with(prefix)) out.emplace_back(e->d_name);
  ::closedir(d);
  return out;
}

// Gone, or a zombie nobody reaps (our init may not): either way it runs no more.
bool process_gone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  auto paren = stat.rfind(')');
  return paren == std::string::npos || (paren + 2 < stat.size() && stat[paren + 2] == 'Z');
}

std::uint64_t oom_kill_of(const std::string& dir) {
  std::istringstream in(slurp(dir + "/memory.oom_control"));
  std::string k;
  std::uint64_t v = 0;
  while (in >> k >> v)
    if (k == "oom_kill") return v;
  return 0;
}

// This process's own v1 memory cgroup directory.
std::string own_memory_cgroup() {
  std::istringstream in(slurp("/proc/self/cgroup"));
  std::string line;
  while (std::getline(in, line)) {
    auto c1 = line.find(':'), c2 = line.find(':', c1 + 1);
    std::string ctl = line.substr(c1 + 1, c2 - c1 - 1);
    if (("," + ctl + ",").find(",memory,") != std::string::npos) {
      std::string rel = line.substr(c2 + 1);
      return rel == "/" ? std::string(kMount) : kMount + rel;
    }
  }
  return "";
}

bool has_effective_cap(int cap) {
  std::istringstream in(slurp("/proc/self/status"));
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("CapEff:")) return (std::stoull(line.substr(7), nullptr, 16) >> cap) & 1;
  return false;
}

// v1 OOM notification: an eventfd the kernel signals when the cgroup hits OOM, just before
// it picks a victim. Gives the test its own clock on "when the OOM happened".
struct OomEvent {
  int efd = -1, ctl = -1;
  explicit OomEvent(const std::string& dir) {
    efd = ::eventfd(0, EFD_CLOEXEC);
    ctl = ::open((dir + "/memory.oom_control").c_str(), O_RDONLY | O_CLOEXEC);
    std::string reg = std::to_string(efd) + " " + std::to_string(ctl);
    std::ofstream(dir + "/cgroup.event_control") << reg;
  }
  ~OomEvent() {
    ::close(efd);
    ::close(ctl);
  }
  std::optional<Clock::time_point> wait(std::chrono::milliseconds timeout) const {
    pollfd p{efd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    return Clock::now();
  }
};

class WorkerV1 : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!test::v1_memory_available(&why))
      GTEST_SKIP() << "cgroup v1 memory not usable here: " << why;
    static std::atomic<int> counter{0};
    prefix_ = "soroka-worker-test-" + std::to_string(::getpid()) + "-";
    parent_ = std::string(kMount) + "/" + prefix_ + std::to_string(counter++);
    sup_ = make_supervisor();
    ASSERT_TRUE(sup_);
    ASSERT_EQ(sup_->cgroups().mode(), CgroupMode::v1) << sup_->cgroups().description();
  }
  void TearDown() override {
    if (parent_.empty()) return;
    sup_.reset();
    EXPECT_FALSE(dir_exists(parent_)) << parent_ << " left behind";
    EXPECT_EQ(entries_with_prefix(prefix_), std::vector<std::string>{});
  }

  std::unique_ptr<WorkerSupervisor> make_supervisor() {
    SupervisorParams p;
    // Slots go under a parent of our own, not under the cgroup this test runs in.
    p.cgroups.mode = CgroupMode::v1;
    p.cgroups.parent = parent_;
    p.cgroups.create_parent = true;
    p.stop_grace = 200ms;
    auto s = WorkerSupervisor::create(p);
    EXPECT_TRUE(s) << s.error().message;
    return s ? std::move(*s) : nullptr;
  }

  static WorkerSpec memhog(std::uint64_t limit) {
    WorkerSpec s;
    s.name = "memhog";
    s.argv = {SOROKA_MEMHOG};  // no CGROUP_DIR argument: the supervisor places it
    s.limit_bytes = limit;
    return s;
  }
  static WorkerSpec shell(std::string script, std::uint64_t limit = 64 * kMiB) {
    WorkerSpec s;
    s.name = "sh";
    s.argv = {"/bin/sh", "-c", std::move(script)};
    s.limit_bytes = limit;
    return s;
  }
  WorkerHandle spawn_ok(WorkerSpec spec) {
    auto h = sup_->spawn(std::move(spec));
    if (!h) throw std::runtime_error("spawn: " + h.error().message);
    return std::move(*h);
  }
  static WorkerExit wait_ok(const WorkerHandle& h, std::chrono::milliseconds t = 10s) {
    auto e = h.wait_for(t);
    if (!e) throw std::runtime_error("worker did not end in time");
    return *e;
  }

  std::string prefix_, parent_;
  std::unique_ptr<WorkerSupervisor> sup_;
};

TEST_F(WorkerV1, OomKillIsReportedWithPeakAtTheLimitAndNoticedAtOnce) {
  const std::uint64_t limit = 64 * kMiB;
  const std::string own = own_memory_cgroup();
  const std::uint64_t own_ooms_before = oom_kill_of(own);
  auto h = spawn_ok(memhog(limit));
  LineChannel ch(h.input().get(), h.output().get());
  ASSERT_EQ(ch.receive(5s).value(), "ready");
  OomEvent oom(h.cgroup_dir());
  ASSERT_TRUE(ch.send("alloc 200", 1s));
  auto oom_at = oom.wait(10s);
  ASSERT_TRUE(oom_at) << "no OOM event from the kernel";
  WorkerExit e = wait_ok(h);
  auto returned = Clock::now();

  EXPECT_EQ(e.kind, ExitKind::oom_killed) << e.detail;
  EXPECT_EQ(e.signal, SIGKILL);
  EXPECT_GE(e.oom_kills, 1u);
  ASSERT_TRUE(e.peak_bytes);
  EXPECT_GE(*e.peak_bytes, limit * 9 / 10) << e.detail;
  EXPECT_LE(*e.peak_bytes, limit);
  EXPECT_EQ(ch.receive(1s).error().code, EPIPE);  // it never answered
  // The supervisor (this process) and its cgroup were not touched.
  EXPECT_EQ(oom_kill_of(own), own_ooms_before);
  EXPECT_EQ(sup_->running(), 0u);

  auto noticed_ms = std::chrono::duration<double, std::milli>(e.noticed - *oom_at).count();
  auto outcome_ms = std::chrono::duration<double, std::milli>(returned - *oom_at).count();
  std::cout << "[ figure ] OOM event -> supervisor woke: " << noticed_ms
            << " ms; -> wait() returned (cgroup removed): " << outcome_ms << " ms\n";
  EXPECT_LT(noticed_ms, 500.0);  // pidfd wake-up, no polling interval
}

TEST_F(WorkerV1, OomNoticeLatencyOverRepeatedKills) {
  std::vector<double> ms;
  for (int i = 0; i < 5; ++i) {
    auto h = spawn_ok(memhog(32 * kMiB));
    LineChannel ch(h.input().get(), h.output().get());
    ASSERT_EQ(ch.receive(5s).value(), "ready");
    OomEvent oom(h.cgroup_dir());
    ASSERT_TRUE(ch.send("alloc 100", 1s));
    auto at = oom.wait(10s);
    ASSERT_TRUE(at);
    WorkerExit e = wait_ok(h);
    ASSERT_EQ(e.kind, ExitKind::oom_killed) << e.detail;
    ms.push_back(std::chrono::duration<double, std::milli>(e.noticed - *at).count());
  }
  std::sort(ms.begin(), ms.end());
  std::cout << "[ figure ] OOM event -> supervisor woke, 5 kills of a 32 MiB worker: min "
            << ms.front() << " ms, median " << ms[2] << " ms, max " << ms.back() << " ms\n";
  EXPECT_LT(ms[2], 200.0);
}

// The same wake-up for a SIGKILL sent from here: what the kernel's OOM path adds on top.
TEST_F(WorkerV1, NoticeLatencyOfAPlainSigkill) {
  std::vector<double> ms;
  for (int i = 0; i < 5; ++i) {
    auto h = spawn_ok(memhog(256 * kMiB));
    LineChannel ch(h.input().get(), h.output().get());
    ASSERT_EQ(ch.receive(5s).value(), "ready");
    ASSERT_TRUE(ch.send("alloc 32", 1s));
    ASSERT_EQ(ch.receive(5s).value(), "ok 32");
    auto t0 = Clock::now();
    ASSERT_EQ(::kill(h.pid(), SIGKILL), 0);
    WorkerExit e = wait_ok(h);
    EXPECT_EQ(e.kind, ExitKind::crashed) << e.detail;  // SIGKILL, counter unchanged
    EXPECT_NE(e.detail.find("not by the OOM killer"), std::string::npos) << e.detail;
    ms.push_back(std::chrono::duration<double, std::milli>(e.noticed - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  std::cout << "[ figure ] kill(SIGKILL) of a 32 MiB worker -> supervisor woke: min " << ms.front()
            << " ms, median " << ms[2] << " ms, max " << ms.back() << " ms\n";
  EXPECT_LT(ms[2], 100.0);
}

TEST_F(WorkerV1, SegfaultAndAbortAreCrashes) {
  for (auto [sig, name] : {std::pair{SIGSEGV, "SEGV"}, std::pair{SIGABRT, "ABRT"}}) {
    auto h = spawn_ok(shell(std::string("kill -") + name + " $$"));
    WorkerExit e = wait_ok(h);
    EXPECT_EQ(e.kind, ExitKind::crashed) << e.detail;
    EXPECT_EQ(e.signal, sig);
    EXPECT_EQ(e.oom_kills, 0u);
    EXPECT_EQ(e.detail.find("core dumped"), std::string::npos) << "RLIMIT_CORE should be 0";
  }
}

TEST_F(WorkerV1, NormalExitReportsCodeAndPeak) {
  auto h = spawn_ok(memhog(256 * kMiB));
  LineChannel ch(h.input().get(), h.output().get());
  ASSERT_EQ(ch.receive(5s).value(), "ready");
  ASSERT_TRUE(ch.send("alloc 40", 1s));
  ASSERT_EQ(ch.receive(5s).value(), "ok 40");
  auto now_bytes = h.memory_bytes();
  ASSERT_TRUE(now_bytes) << now_bytes.error().message;
  EXPECT_GE(*now_bytes, 40 * kMiB);
  ASSERT_TRUE(ch.send("exit", 1s));
  WorkerExit e = wait_ok(h);
  EXPECT_EQ(e.kind, ExitKind::exited) << e.detail;
  EXPECT_EQ(e.exit_code, 0);
  ASSERT_TRUE(e.peak_bytes);
  EXPECT_GE(*e.peak_bytes, 40 * kMiB);
  EXPECT_LT(*e.peak_bytes, 256 * kMiB);
  EXPECT_GE(e.max_rss_bytes, 40 * kMiB);
  EXPECT_GT(e.wall.count(), 0);
  EXPECT_EQ(h.memory_bytes().error().code, ESRCH);

  auto h7 = spawn_ok(shell("exit 7"));
  WorkerExit e7 = wait_ok(h7);
  EXPECT_EQ(e7.kind, ExitKind::exited);
  EXPECT_EQ(e7.exit_code, 7);
}

TEST_F(WorkerV1, ChildIsPlacedAndDemotedBeforeItRuns) {
  // Lowering needs CAP_SYS_RESOURCE, which root in a container may lack: then the refusal
  // path is what runs in production there, so that is what is checked.
  auto lowered = protect_self(-500);
  struct Restore {
    ~Restore() { (void)protect_self(0); }
  } restore;
  if (has_effective_cap(CAP_SYS_RESOURCE)) {
    ASSERT_TRUE(lowered) << lowered.error().message;
    EXPECT_EQ(slurp("/proc/self/oom_score_adj"), "-500\n");
  } else {
    ASSERT_FALSE(lowered);
    EXPECT_EQ(lowered.error().code, EACCES);
    EXPECT_EQ(slurp("/proc/self/oom_score_adj"), "0\n");
    std::cout << "[ note ] no CAP_SYS_RESOURCE: protect_self(-500) refused, as checked\n";
  }

  auto spec = memhog(64 * kMiB);
  spec.env = {"SOROKA_WORKER_TEST=1"};
  auto h = spawn_ok(spec);
  LineChannel ch(h.input().get(), h.output().get());
  ASSERT_EQ(ch.receive(5s).value(), "ready");
  const std::string proc = "/proc/" + std::to_string(h.pid());
  EXPECT_EQ(slurp(proc + "/oom_score_adj"), "1000\n");
  // In its slot, which is what /proc/PID/cgroup says for the memory hierarchy.
  std::string rel = h.cgroup_dir().substr(std::strlen(kMount));
  EXPECT_NE(slurp(proc + "/cgroup").find(":memory:" + rel + "\n"), std::string::npos)
      << slurp(proc + "/cgroup");
  EXPECT_EQ(slurp(h.cgroup_dir() + "/cgroup.procs"), std::to_string(h.pid()) + "\n");
  // Only stdin, stdout, stderr: nothing of the service's leaked in.
  std::vector<std::string> fds;
  if (DIR* d = ::opendir((proc + "/fd").c_str())) {
    while (auto* e = ::readdir(d))
      if (e->d_name[0] != '.') fds.emplace_back(e->d_name);
    ::closedir(d);
  }
  std::sort(fds.begin(), fds.end());
  EXPECT_EQ(fds, (std::vector<std::string>{"0", "1", "2"}));
  std::string environ = slurp(proc + "/environ");
  EXPECT_EQ(environ, std::string("SOROKA_WORKER_TEST=1") + '\0');
  EXPECT_EQ(::getpgid(h.pid()), h.pid());  // its own process group
  EXPECT_EQ(slurp(h.cgroup_dir() + "/memory.limit_in_bytes"), std::to_string(64 * kMiB) + "\n");
  EXPECT_EQ(slurp(h.cgroup_dir() + "/memory.memsw.limit_in_bytes"),
            std::to_string(64 * kMiB) + "\n");
  h.terminate(0ms);
  EXPECT_EQ(wait_ok(h).kind, ExitKind::cancelled);
}

TEST_F(WorkerV1, TimeoutSendsSigtermFirst) {
  auto spec = shell("exec sleep 30");
  spec.timeout = 300ms;
  auto h = spawn_ok(spec);
  WorkerExit e = wait_ok(h);
  EXPECT_EQ(e.kind, ExitKind::timed_out) << e.detail;
  EXPECT_EQ(e.signal, SIGTERM);
  EXPECT_GE(e.wall, 300ms);
  EXPECT_LT(e.wall, 1500ms);
}

TEST_F(WorkerV1, TimeoutEscalatesToSigkillAndKillsHelpers) {
  // The shell and its helper both ignore SIGTERM; the helper is not the main process.
  auto spec = shell("trap '' TERM; sleep 30 & echo $!; wait");
  spec.timeout = 200ms;
  spec.kill_grace = 300ms;
  auto h = spawn_ok(spec);
  LineChannel ch(h.input().get(), h.output().get());
  auto helper_line = ch.receive(5s);
  ASSERT_TRUE(helper_line) << helper_line.error().message;
  pid_t helper = static_cast<pid_t>(std::stol(*helper_line));
  WorkerExit e = wait_ok(h);
  EXPECT_EQ(e.kind, ExitKind::timed_out) << e.detail;
  EXPECT_EQ(e.signal, SIGKILL);
  EXPECT_GE(e.wall, 500ms);
  EXPECT_LT(e.wall, 2000ms);
  auto deadline = Clock::now() + 2s;
  while (!process_gone(helper) && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(process_gone(helper)) << "helper " << helper << " outlived its cgroup";
}

TEST_F(WorkerV1, TerminateCancels) {
  auto h = spawn_ok(memhog(64 * kMiB));
  LineChannel ch(h.input().get(), h.output().get());
  ASSERT_EQ(ch.receive(5s).value(), "ready");
  EXPECT_TRUE(h.running());
  auto t0 = Clock::now();
  h.terminate(1s);
  WorkerExit e = wait_ok(h);
  EXPECT_EQ(e.kind, ExitKind::cancelled) << e.detail;
  EXPECT_EQ(e.signal, SIGTERM);
  EXPECT_LT(Clock::now() - t0, 500ms);
  EXPECT_FALSE(h.running());
  h.terminate(1s);  // no-op once ended

  auto stubborn = spawn_ok(shell("trap '' TERM; while :; do sleep 0.05; done"));
  std::this_thread::sleep_for(50ms);  // let the trap be set
  stubborn.terminate(0ms);
  WorkerExit k = wait_ok(stubborn);
  EXPECT_EQ(k.kind, ExitKind::cancelled);
  EXPECT_EQ(k.signal, SIGKILL);
}

TEST_F(WorkerV1, ExecFailureIsASpawnErrorAndLeavesNoCgroup) {
  WorkerSpec missing;
  missing.argv = {"/nonexistent/soroka-worker"};
  auto r = sup_->spawn(missing);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_NE(r.error().message.find("exec"), std::string::npos) << r.error().message;
  missing.argv = {"no-such-soroka-worker"};
  r = sup_->spawn(missing);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not found in PATH"), std::string::npos);
  // Only the parent remains: the failed slot was removed.
  std::vector<std::string> children;
  if (DIR* d = ::opendir(parent_.c_str())) {
    while (auto* e = ::readdir(d))
      if (e->d_type == DT_DIR && e->d_name[0] != '.') children.emplace_back(e->d_name);
    ::closedir(d);
  }
  EXPECT_EQ(children, std::vector<std::string>{});
}

TEST_F(WorkerV1, SpawnFromAShortLivedThreadOutlivesThatThread) {
  // PR_SET_PDEATHSIG fires when the forking *thread* ends; the supervisor forks on its own.
  std::optional<WorkerHandle> h;
  std::thread([&] { h = spawn_ok(memhog(64 * kMiB)); }).join();
  ASSERT_TRUE(h);
  LineChannel ch(h->input().get(), h->output().get());
  ASSERT_EQ(ch.receive(5s).value(), "ready");
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(ch.send("alloc 1", 1s));
  EXPECT_EQ(ch.receive(5s).value(), "ok 1");
  EXPECT_TRUE(h->running());
}

TEST_F(WorkerV1, SocketpairCarriesTheLineProtocol) {
  auto spec = memhog(64 * kMiB);
  spec.io = WorkerIo::socketpair;
  auto h = spawn_ok(spec);
  EXPECT_FALSE(h.output());
  LineChannel ch(h.input().get(), h.input().get());
  ASSERT_EQ(ch.receive(5s).value(), "ready");
  ASSERT_TRUE(ch.send("alloc 2", 1s));
  EXPECT_EQ(ch.receive(5s).value(), "ok 2");
  ASSERT_TRUE(ch.send("exit", 1s));
  EXPECT_EQ(wait_ok(h).kind, ExitKind::exited);
}

TEST_F(WorkerV1, ResizeLetsARunningWorkerGrow) {
  auto h = spawn_ok(memhog(64 * kMiB));
  LineChannel ch(h.input().get(), h.output().get());
  ASSERT_EQ(ch.receive(5s).value(), "ready");
  ASSERT_TRUE(h.resize(160 * kMiB));  // memsw must go up first or the kernel says EINVAL
  ASSERT_TRUE(ch.send("alloc 100", 1s));
  EXPECT_EQ(ch.receive(10s).value(), "ok 100");
  ASSERT_TRUE(h.resize(128 * kMiB));  // still above the 100 MiB in use
  ASSERT_TRUE(ch.send("exit", 1s));
  WorkerExit e = wait_ok(h);
  EXPECT_EQ(e.kind, ExitKind::exited) << e.detail;
  EXPECT_GE(e.peak_bytes.value_or(0), 100 * kMiB);
}

TEST_F(WorkerV1, ConcurrentWorkersEachGetTheirOwnOutcome) {
  std::mutex mu;
  std::map<std::string, WorkerExit> ends;
  auto with_cb = [&](WorkerSpec s, std::string name) {
    s.name = name;
    s.on_exit = [&, name](const WorkerExit& e) {
      std::lock_guard lk(mu);
      ends[name] = e;
    };
    return s;
  };
  auto ok = spawn_ok(with_cb(shell("sleep 0.2; exit 0"), "ok"));
  auto crash = spawn_ok(with_cb(shell("sleep 0.1; kill -SEGV $$"), "crash"));
  auto slow_spec = with_cb(shell("exec sleep 30"), "slow");
  slow_spec.timeout = 250ms;
  auto slow = spawn_ok(slow_spec);
  auto hog = spawn_ok(with_cb(memhog(32 * kMiB), "hog"));
  LineChannel ch(hog.input().get(), hog.output().get());
  ASSERT_EQ(ch.receive(5s).value(), "ready");
  ASSERT_TRUE(ch.send("alloc 100", 1s));
  for (auto* h : {&ok, &crash, &slow, &hog}) wait_ok(*h);
  std::lock_guard lk(mu);  // wait() returns after on_exit ran
  ASSERT_EQ(ends.size(), 4u);
  EXPECT_EQ(ends["ok"].kind, ExitKind::exited);
  EXPECT_EQ(ends["crash"].kind, ExitKind::crashed);
  EXPECT_EQ(ends["slow"].kind, ExitKind::timed_out);
  EXPECT_EQ(ends["hog"].kind, ExitKind::oom_killed) << ends["hog"].detail;
  EXPECT_EQ(ends["ok"].oom_kills + ends["crash"].oom_kills + ends["slow"].oom_kills, 0u);
}

TEST_F(WorkerV1, SupervisorShutdownStopsWorkersAndRemovesEverything) {
  auto h = spawn_ok(shell("exec sleep 30"));
  auto cg = h.cgroup_dir();
  EXPECT_TRUE(dir_exists(cg));
  sup_.reset();              // SIGTERM, then SIGKILL after stop_grace
  auto e = h.wait_for(0ms);  // already decided: the destructor reaps before it returns
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind, ExitKind::cancelled);
  EXPECT_FALSE(dir_exists(cg));
  EXPECT_FALSE(dir_exists(parent_));
}

// Orphans of this process come to it while one lives (PR_SET_CHILD_SUBREAPER), so a test can
// wait for the workers of a "service" it forked and killed.
struct SubreaperScope {
  bool ok = ::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0;
  ~SubreaperScope() { ::prctl(PR_SET_CHILD_SUBREAPER, 0); }
};

// The pid reaped within `timeout` (its wait status in `st`), or 0 if it is still running.
pid_t reap_within(pid_t pid, int& st, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  pid_t r = 0;
  while ((r = ::waitpid(pid, &st, WNOHANG)) == 0 && Clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  return r;
}

// Not a fixture test: it forks, and must do so with no supervisor thread in this process.
TEST(WorkerV1Death, WorkersDieWithTheService) {
  SubreaperScope subreaper;
  ASSERT_TRUE(subreaper.ok);
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  pid_t service = ::fork();
  ASSERT_GE(service, 0);
  if (service == 0) {  // the "service": start a worker, then die without any cleanup
    SupervisorParams params;
    params.cgroups.mode = CgroupMode::none;
    auto sup = WorkerSupervisor::create(params);
    if (!sup) ::_exit(2);
    WorkerSpec s;
    s.argv = {"/bin/sleep", "30"};
    auto h = (*sup)->spawn(s);
    if (!h) ::_exit(3);
    pid_t w = h->pid();
    if (::write(p[1], &w, sizeof w) != sizeof w) ::_exit(4);
    ::raise(SIGKILL);
  }
  ::close(p[1]);
  pid_t worker = -1;
  ASSERT_EQ(::read(p[0], &worker, sizeof worker), static_cast<ssize_t>(sizeof worker));
  ::close(p[0]);
  int st = 0;
  ASSERT_EQ(::waitpid(service, &st, 0), service);
  ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  ASSERT_EQ(reap_within(worker, st, 3s), worker) << "the worker outlived the service";
  EXPECT_TRUE(WIFSIGNALED(st));
  EXPECT_EQ(WTERMSIG(st), SIGKILL);
}

// A service killed outright leaves its worker's slot behind (the kernel removes no cgroup);
// the next service to start in that directory removes it. Forks, like the test above.
TEST(WorkerV1Death, ASlotOrphanedByAKilledServiceIsRemovedByTheNextStart) {
  std::string why;
  if (!test::v1_memory_available(&why)) GTEST_SKIP() << "cgroup v1 memory not usable here: " << why;
  const std::string parent = std::string(kMount) + "/soroka-orphan-test-" + std::to_string(::getpid());
  ASSERT_EQ(::mkdir(parent.c_str(), 0755), 0) << parent;
  struct RemoveParent {  // and a slot the test found left behind: no cgroup outlives it
    std::string dir;
    ~RemoveParent() {
      std::error_code ec;
      for (const auto& e : std::filesystem::directory_iterator(dir, ec))
        if (e.is_directory(ec)) ::rmdir(e.path().c_str());
      ::rmdir(dir.c_str());
    }
  } remove_parent{parent};
  SubreaperScope subreaper;
  ASSERT_TRUE(subreaper.ok);
  SupervisorParams params;
  params.cgroups.mode = CgroupMode::v1;
  params.cgroups.parent = parent;
  params.stop_grace = 200ms;
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  pid_t service = ::fork();
  ASSERT_GE(service, 0);
  if (service == 0) {  // the "service": a worker in its own slot, then death without cleanup
    auto sup = WorkerSupervisor::create(params);
    if (!sup) ::_exit(2);
    WorkerSpec s;
    s.name = "sleeper";
    s.argv = {"/bin/sleep", "30"};
    s.limit_bytes = 64 * kMiB;
    auto h = (*sup)->spawn(s);
    if (!h) ::_exit(3);
    char msg[512] = {};
    std::snprintf(msg, sizeof msg, "%d %s", h->pid(), h->cgroup_dir().c_str());
    if (::write(p[1], msg, sizeof msg) != static_cast<ssize_t>(sizeof msg)) ::_exit(4);
    ::raise(SIGKILL);
  }
  ::close(p[1]);
  char msg[512] = {};
  ASSERT_EQ(::read(p[0], msg, sizeof msg), static_cast<ssize_t>(sizeof msg));
  ::close(p[0]);
  int st = 0;
  ASSERT_EQ(::waitpid(service, &st, 0), service);
  pid_t worker = -1;
  char dir[500] = {};
  ASSERT_EQ(std::sscanf(msg, "%d %499s", &worker, dir), 2) << msg;
  ASSERT_EQ(reap_within(worker, st, 3s), worker) << "the worker outlived the service";
  ASSERT_TRUE(dir_exists(dir)) << "the killed service's slot should be there: " << dir;

  auto next = WorkerSupervisor::create(params);
  ASSERT_TRUE(next) << next.error().message;
  EXPECT_FALSE(dir_exists(dir)) << dir << " was left for good";
}

}  // namespace
}  // namespace soroka::worker

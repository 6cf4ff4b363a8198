// Unit: worker cgroup slots on fixture trees: v2 delegation, v1, none, limits, counters, removal.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "support/fixture.h"
#include "worker/cgroup_slot.h"

namespace soroka::worker {
namespace {

namespace fs = std::filesystem;
using test::FixtureTree;

constexpr std::uint64_t kMiB = 1024 * 1024;

std::string slurp(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void put(const std::string& p, std::string_view text) {
  std::ofstream out(p, std::ios::trunc);
  out << text;
}

test::FakeProcess in_cgroup(std::string proc_cgroup_text) {
  test::FakeProcess p;
  p.cgroup = std::move(proc_cgroup_text);
  return p;
}

// What the kernel does behind cgroupfs, emulated in a fixture tree: mkdir fills in the
// control files, cgroup.procs moves a pid between groups, subtree_control obeys the "no
// internal processes" rule, rmdir refuses while tasks live. Signals are recorded, never sent.
class FakeKernel : public CgroupFs {
 public:
  enum class Version { v1, v2 };
  struct Options {
    bool peak = true, swap = true, oom_group = true, kill_file = true;  // v2 files of 5.19+
    bool memsw = true;                                                  // v1 swap accounting
  };
  FakeKernel(Version v, std::string mount, Options o) : v_(v), mount_(std::move(mount)), o_(o) {}

  Result<void> write(const std::string& path, std::string_view data) override {
    std::lock_guard lk(mu_);
    writes.emplace_back(path, std::string(data));
    if (!fs::exists(path)) return fail("open " + path + ": No such file", ENOENT);
    std::string dir = fs::path(path).parent_path();
    std::string file = fs::path(path).filename();
    if (file == "cgroup.procs") {
      pid_t pid = static_cast<pid_t>(std::stol(std::string(data)));
      bool gone = vanished.count(pid) > 0;  // exited: it leaves every cgroup.procs
      for (auto& e : fs::recursive_directory_iterator(mount_)) {
        if (e.path().filename() != "cgroup.procs") continue;
        auto pids = parse_pids(slurp(e.path()));
        std::erase(pids, pid);
        std::string text;
        for (pid_t p : pids) text += std::to_string(p) + "\n";
        put(e.path(), text);
      }
      if (gone) return fail("write: No such process", ESRCH);
      put(path, slurp(path) + std::to_string(pid) + "\n");
      return {};
    }
    if (file == "cgroup.subtree_control") {
      if (fork_during_enable) {  // the service forked just as we were enabling memory
        put(dir + "/cgroup.procs",
            slurp(dir + "/cgroup.procs") + std::to_string(*fork_during_enable) + "\n");
        fork_during_enable.reset();
      }
      if (dir != mount_ && !parse_pids(slurp(dir + "/cgroup.procs")).empty())
        return fail("write: Device or resource busy", EBUSY);
      std::string now = slurp(path);
      std::string tok(data.substr(1));
      if (data.front() == '+' && !has_token(now, tok)) {
        std::string_view kept = now;
        while (!kept.empty() && (kept.back() == '\n' || kept.back() == ' ')) kept.remove_suffix(1);
        put(path, std::string(kept) + (kept.empty() ? "" : " ") + tok + "\n");
      }
      return {};
    }
    if (file == "cgroup.kill") {
      for (pid_t p : parse_pids(slurp(dir + "/cgroup.procs"))) killed.insert(p);
      return {};
    }
    put(path, data);
    return {};
  }

  Result<void> make_dir(const std::string& path) override {
    auto r = CgroupFs::make_dir(path);
    if (!r) return r;
    std::lock_guard lk(mu_);
    made.push_back(path);
    std::string parent = fs::path(path).parent_path();
    auto f = [&](const char* name, std::string_view text) { put(path + "/" + name, text); };
    f("cgroup.procs", "");
    if (v_ == Version::v2) {
      std::string sub = slurp(parent + "/cgroup.subtree_control");
      f("cgroup.controllers", sub);
      f("cgroup.subtree_control", "");
      f("cgroup.events", "populated 0\nfrozen 0\n");
      if (o_.kill_file) f("cgroup.kill", "");
      if (has_token(sub, "memory")) {
        f("memory.current", "0\n");
        f("memory.max", "max\n");
        if (o_.peak) f("memory.peak", "0\n");
        if (o_.swap) f("memory.swap.max", "max\n");
        if (o_.oom_group) f("memory.oom.group", "0\n");
        f("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n");
      }
    } else {
      f("memory.limit_in_bytes", "9223372036854771712\n");
      if (o_.memsw) f("memory.memsw.limit_in_bytes", "9223372036854771712\n");
      f("memory.usage_in_bytes", "0\n");
      f("memory.max_usage_in_bytes", "0\n");
      f("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
    }
    return {};
  }

  Result<void> remove_dir(const std::string& path) override {
    std::lock_guard lk(mu_);
    if (!fs::exists(path)) return fail("rmdir " + path + ": No such file", ENOENT);
    for (auto& e : fs::directory_iterator(path))
      if (e.is_directory()) return fail("rmdir: busy (child cgroups)", EBUSY);
    for (pid_t p : parse_pids(slurp(path + "/cgroup.procs")))
      if (!killed.count(p)) return fail("rmdir: busy (tasks)", EBUSY);
    fs::remove_all(path);
    removed.push_back(path);
    return {};
  }

  bool writable(const std::string& path) override { return !read_only.count(path); }
  std::optional<std::string> xattr(const std::string& path, const std::string& name) override {
    auto it = xattrs.find(path + "#" + name);
    if (it == xattrs.end()) return std::nullopt;
    return it->second;
  }
  uid_t euid() override { return uid; }
  Result<void> kill(pid_t pid, int sig) override {
    std::lock_guard lk(mu_);
    signals.emplace_back(pid, sig);
    if (sig == SIGKILL) killed.insert(pid);
    return {};
  }

  // The writes to files named `file`, in order.
  std::vector<std::string> writes_to(std::string_view file) const {
    std::vector<std::string> out;
    for (auto& [p, d] : writes)
      if (fs::path(p).filename() == file) out.push_back(d);
    return out;
  }
  std::vector<std::string> written_files() const {
    std::vector<std::string> out;
    for (auto& [p, d] : writes) out.push_back(fs::path(p).filename());
    return out;
  }

  std::vector<std::pair<std::string, std::string>> writes;
  std::vector<std::string> made, removed;
  std::vector<std::pair<pid_t, int>> signals;
  std::set<pid_t> killed, vanished;
  std::optional<pid_t> fork_during_enable;
  std::set<std::string> read_only;
  std::map<std::string, std::string> xattrs;  // "path#name" -> value
  uid_t uid = 0;

 private:
  Version v_;
  std::string mount_;
  Options o_;
  std::mutex mu_;
};

// A pure cgroup v2 host where soroka.service runs; its cgroup has memory available
// (Delegate=memory puts it in the slice's subtree_control) but not yet enabled below it.
class CgroupSlotV2 : public ::testing::Test {
 protected:
  void SetUp() override { build({}); }

  void build(FakeKernel::Options o, std::string_view own = "/system.slice/soroka.service",
             std::string_view service_procs = "812\n813\n", std::string_view service_subtree = "\n",
             std::string_view controllers = "cpu io memory pids\n") {
    tree_ = std::make_unique<FixtureTree>();
    t().write_process("self", in_cgroup("0::" + std::string(own) + "\n"));
    t().write("sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
    t().write("sys/fs/cgroup/cgroup.subtree_control", "cpu io memory pids\n");
    t().write("sys/fs/cgroup/cgroup.procs", "1\n");
    t().write("sys/fs/cgroup/system.slice/cgroup.controllers", "cpu io memory pids\n");
    t().write("sys/fs/cgroup/system.slice/cgroup.subtree_control", "cpu io memory pids\n");
    t().write("sys/fs/cgroup/system.slice/cgroup.procs", "");
    const std::string svc = "sys/fs/cgroup/system.slice/soroka.service";
    t().write(svc + "/cgroup.controllers", controllers);
    t().write(svc + "/cgroup.subtree_control", service_subtree);
    t().write(svc + "/cgroup.procs", service_procs);
    t().write(svc + "/memory.current", "31457280\n");
    service_ = t().path(svc);
    kernel_ = std::make_shared<FakeKernel>(FakeKernel::Version::v2, t().v2_mount(), o);
    kernel_->xattrs[service_ + "#trusted.delegate"] = "1";
  }

  CgroupConfig config() const {
    CgroupConfig c;
    c.roots = t().roots();
    c.fs = kernel_;
    return c;
  }
  CgroupManager open_ok(CgroupConfig c) const {
    auto m = CgroupManager::open(std::move(c));
    if (!m) throw std::runtime_error(m.error().message);
    return std::move(*m);
  }
  FixtureTree& t() const { return *tree_; }

  std::unique_ptr<FixtureTree> tree_;
  std::shared_ptr<FakeKernel> kernel_;
  std::string service_;
};

TEST_F(CgroupSlotV2, DelegatedServiceMovesIntoLeafThenEnablesMemory) {
  auto m = open_ok(config());
  EXPECT_EQ(m.mode(), CgroupMode::v2);
  EXPECT_EQ(m.base_dir(), service_);
  EXPECT_EQ(slurp(service_ + "/supervisor/cgroup.procs"), "812\n813\n");
  EXPECT_EQ(slurp(service_ + "/cgroup.procs"), "");
  EXPECT_TRUE(has_token(slurp(service_ + "/cgroup.subtree_control"), "memory"));
  // Both processes move before memory is enabled: the kernel refuses it with tasks inside.
  EXPECT_EQ(kernel_->written_files(),
            (std::vector<std::string>{"cgroup.procs", "cgroup.procs", "cgroup.subtree_control"}));
  EXPECT_EQ(kernel_->writes_to("cgroup.subtree_control"), std::vector<std::string>{"+memory"});
  {
    const auto& d = m.description();
    EXPECT_NE(d.find("delegated (trusted.delegate)"), std::string::npos) << d;
    EXPECT_NE(d.find("moved 2 process(es) into supervisor/"), std::string::npos) << d;
    EXPECT_NE(d.find("enabled memory"), std::string::npos) << d;
  }
  EXPECT_TRUE(kernel_->signals.empty());
}

TEST_F(CgroupSlotV2, ProcessThatExitedDuringTheMoveIsSkipped) {
  kernel_->vanished.insert(813);
  auto m = open_ok(config());
  EXPECT_EQ(m.mode(), CgroupMode::v2);
  EXPECT_NE(m.description().find("moved 1 process(es)"), std::string::npos) << m.description();
}

TEST_F(CgroupSlotV2, ProcessForkedDuringTheMoveIsCaughtOnTheNextRound) {
  kernel_->fork_during_enable = 900;
  auto m = open_ok(config());
  EXPECT_EQ(m.mode(), CgroupMode::v2) << m.description();
  EXPECT_EQ(slurp(service_ + "/supervisor/cgroup.procs"), "812\n813\n900\n");
  EXPECT_EQ(kernel_->writes_to("cgroup.subtree_control"),
            (std::vector<std::string>{"+memory", "+memory"}));  // EBUSY, then done
  EXPECT_NE(m.description().find("moved 3 process(es)"), std::string::npos) << m.description();
}

TEST_F(CgroupSlotV2, ServiceAlreadyInLeafWithMemoryEnabledNeedsNoWrites) {
  build({}, "/system.slice/soroka.service/supervisor", "", "memory pids\n");
  t().write("sys/fs/cgroup/system.slice/soroka.service/supervisor/cgroup.procs", "812\n");
  auto m = open_ok(config());
  EXPECT_EQ(m.mode(), CgroupMode::v2);
  EXPECT_EQ(m.base_dir(), service_);
  EXPECT_TRUE(kernel_->writes.empty());
  EXPECT_NE(m.description().find("already in supervisor/"), std::string::npos);
}

TEST_F(CgroupSlotV2, NonRootWithWritableSubtreeIsDelegated) {
  kernel_->xattrs.clear();
  kernel_->uid = 1000;
  auto m = open_ok(config());
  EXPECT_EQ(m.mode(), CgroupMode::v2);
  EXPECT_NE(m.description().find("writable by uid 1000"), std::string::npos);
}

TEST_F(CgroupSlotV2, NotWritableMeansNoneWithTheReason) {
  kernel_->xattrs.clear();
  kernel_->uid = 1000;
  kernel_->read_only.insert(service_ + "/cgroup.subtree_control");
  auto m = open_ok(config());
  EXPECT_EQ(m.mode(), CgroupMode::none);
  EXPECT_EQ(m.base_dir(), "");
  EXPECT_NE(m.description().find("not writable by uid 1000"), std::string::npos);
  EXPECT_NE(m.description().find("Delegate=memory"), std::string::npos);
  EXPECT_TRUE(kernel_->writes.empty());
  EXPECT_TRUE(kernel_->made.empty());
}

TEST_F(CgroupSlotV2, RootWithoutDelegationMarkLeavesSystemdsTreeAlone) {
  kernel_->xattrs.clear();
  auto m = open_ok(config());
  EXPECT_EQ(m.mode(), CgroupMode::none);
  EXPECT_NE(m.description().find("no delegation mark"), std::string::npos) << m.description();
  EXPECT_TRUE(kernel_->writes.empty());

  auto c = config();
  c.assume_delegated = true;
  auto m2 = open_ok(c);
  EXPECT_EQ(m2.mode(), CgroupMode::v2);
  EXPECT_NE(m2.description().find("assumed delegated"), std::string::npos);
}

TEST_F(CgroupSlotV2, UserDelegateXattrCountsToo) {
  kernel_->xattrs.clear();
  kernel_->xattrs[service_ + "#user.delegate"] = "1";
  auto m = open_ok(config());
  EXPECT_EQ(m.mode(), CgroupMode::v2);
  EXPECT_NE(m.description().find("user.delegate"), std::string::npos);
}

TEST_F(CgroupSlotV2, MemoryNotDelegatedIsNoneOrAnErrorWhenForced) {
  build({}, "/system.slice/soroka.service", "812\n", "\n", "cpu pids\n");
  auto m = open_ok(config());
  EXPECT_EQ(m.mode(), CgroupMode::none);
  EXPECT_NE(m.description().find("memory controller not available"), std::string::npos);

  auto c = config();
  c.mode = CgroupMode::v2;
  auto forced = CgroupManager::open(c);
  ASSERT_FALSE(forced);
  EXPECT_EQ(forced.error().code, ENOTSUP);
  EXPECT_NE(forced.error().message.find("cgroup mode cgroup-v2"), std::string::npos);
}

TEST_F(CgroupSlotV2, SlotGetsLimitNoSwapAndOomGroup) {
  auto m = open_ok(config());
  auto slot = m.create("asr-812-1", 64 * kMiB);
  ASSERT_TRUE(slot) << slot.error().message;
  const std::string dir = service_ + "/asr-812-1";
  EXPECT_EQ((*slot)->dir(), dir);
  EXPECT_EQ((*slot)->procs_path(), dir + "/cgroup.procs");
  EXPECT_EQ(slurp(dir + "/memory.max"), "67108864");
  EXPECT_EQ(slurp(dir + "/memory.swap.max"), "0");
  EXPECT_EQ(slurp(dir + "/memory.oom.group"), "1");
  EXPECT_FALSE((*slot)->needs_sampling());
  EXPECT_EQ((*slot)->limit_bytes(), 64 * kMiB);
}

TEST_F(CgroupSlotV2, UnlimitedSlotWritesMax) {
  auto m = open_ok(config());
  auto slot = m.create("w", 0);
  ASSERT_TRUE(slot);
  EXPECT_EQ(slurp(service_ + "/w/memory.max"), "max");
}

TEST_F(CgroupSlotV2, CountersFromKernelText) {
  auto m = open_ok(config());
  auto slot = m.create("w", 64 * kMiB);
  ASSERT_TRUE(slot);
  const std::string dir = (*slot)->dir();
  EXPECT_EQ((*slot)->oom_kills().value(), 0u);
  // memory.events of a 6.1 cgroup after a group OOM kill of two tasks.
  put(dir + "/memory.events", "low 0\nhigh 0\nmax 1542\noom 3\noom_kill 2\noom_group_kill 1\n");
  put(dir + "/memory.peak", "67104768\n");
  put(dir + "/memory.current", "1236992\n");
  EXPECT_EQ((*slot)->oom_kills().value(), 2u);
  EXPECT_EQ((*slot)->peak_bytes().value(), 67104768u);
  EXPECT_EQ((*slot)->current_bytes().value(), 1236992u);
  put(dir + "/memory.events", "low 0\nhigh 0\nmax 0\noom 0\n");  // before 4.13
  auto k = (*slot)->oom_kills();
  ASSERT_FALSE(k);
  EXPECT_EQ(k.error().code, ENOTSUP);
}

TEST_F(CgroupSlotV2, OldKernelPeakIsThePolledMaximum) {
  build({.peak = false, .swap = false, .oom_group = false, .kill_file = false});
  auto m = open_ok(config());
  auto slot = m.create("w", 64 * kMiB);
  ASSERT_TRUE(slot) << slot.error().message;
  const std::string dir = (*slot)->dir();
  EXPECT_FALSE(fs::exists(dir + "/memory.swap.max"));  // not created by us
  EXPECT_TRUE((*slot)->needs_sampling());
  for (std::uint64_t mb : {std::uint64_t{10}, std::uint64_t{30}, std::uint64_t{5}}) {
    put(dir + "/memory.current", std::to_string(mb * kMiB) + "\n");
    (*slot)->sample();
  }
  EXPECT_EQ((*slot)->peak_bytes().value(), 30 * kMiB);
  EXPECT_EQ(kernel_->writes_to("memory.oom.group").size(), 0u);
  EXPECT_EQ(kernel_->writes_to("memory.swap.max").size(), 0u);
}

TEST_F(CgroupSlotV2, ResizeRewritesMemoryMax) {
  auto m = open_ok(config());
  auto slot = m.create("w", 64 * kMiB);
  ASSERT_TRUE(slot);
  ASSERT_TRUE((*slot)->resize(128 * kMiB));
  EXPECT_EQ(slurp((*slot)->dir() + "/memory.max"), "134217728");
  EXPECT_EQ((*slot)->limit_bytes(), 128 * kMiB);
  ASSERT_TRUE((*slot)->resize(0));
  EXPECT_EQ(slurp((*slot)->dir() + "/memory.max"), "max");
}

TEST_F(CgroupSlotV2, DestructionKillsLeftoversAndRemovesTheDir) {
  auto m = open_ok(config());
  std::string dir;
  {
    auto slot = m.create("w", 64 * kMiB);
    ASSERT_TRUE(slot);
    dir = (*slot)->dir();
    put(dir + "/cgroup.procs", "4242\n");  // a helper the worker left behind
  }
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_EQ(kernel_->writes_to("cgroup.kill"), std::vector<std::string>{"1"});
  EXPECT_TRUE(kernel_->signals.empty());  // cgroup.kill did it
}

TEST_F(CgroupSlotV2, WithoutCgroupKillEachTaskIsSignalled) {
  build({.kill_file = false});
  auto m = open_ok(config());
  auto slot = m.create("w", 64 * kMiB);
  ASSERT_TRUE(slot);
  const std::string dir = (*slot)->dir();
  put(dir + "/cgroup.procs", "4242\n4243\n");
  ASSERT_TRUE((*slot)->remove());
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_EQ(kernel_->signals,
            (std::vector<std::pair<pid_t, int>>{{4242, SIGKILL}, {4243, SIGKILL}}));
  EXPECT_TRUE((*slot)->remove());  // idempotent
}

TEST_F(CgroupSlotV2, LeftoverSlotOfACrashedRunIsReplaced) {
  auto m = open_ok(config());
  ASSERT_TRUE(kernel_->make_dir(service_ + "/w"));
  put(service_ + "/w/cgroup.procs", "77\n");
  put(service_ + "/w/memory.max", "1\n");
  auto slot = m.create("w", 64 * kMiB);
  ASSERT_TRUE(slot) << slot.error().message;
  EXPECT_TRUE(kernel_->killed.count(77));
  EXPECT_EQ(slurp(service_ + "/w/memory.max"), "67108864");
  EXPECT_EQ(slurp(service_ + "/w/cgroup.procs"), "");
}

// A service killed (SIGKILL, its own OOM kill) cannot remove its workers' slots; the next
// start removes those of dead services, never a live one's nor one with tasks.
TEST_F(CgroupSlotV2, OrphanedSlotsOfDeadServicesAreRemovedAtStart) {
  auto m = open_ok(config());
  t().write_process("4242", {});  // a service sharing the directory, alive
  const std::string own = "soroka-worker-x-" + std::to_string(::getpid()) + "-1";
  for (const char* name : {"soroka-worker-x-999999-3", "probe-999999-4", "soroka-worker-x-4242-1",
                           "soroka-worker-x-999998-2", "notaslot", "x-12", "-999999-1"})
    ASSERT_TRUE(kernel_->make_dir(service_ + "/" + name)) << name;
  ASSERT_TRUE(kernel_->make_dir(service_ + "/" + own));
  put(service_ + "/soroka-worker-x-999998-2/cgroup.procs", "77\n");  // a task still inside

  EXPECT_EQ(m.remove_orphans(), 2u);
  EXPECT_FALSE(fs::exists(service_ + "/soroka-worker-x-999999-3"));
  EXPECT_FALSE(fs::exists(service_ + "/probe-999999-4"));
  for (const std::string name : {std::string("soroka-worker-x-4242-1"), std::string("soroka-worker-x-999998-2"),
                                 std::string("notaslot"), std::string("x-12"), std::string("-999999-1"), own,
                                 std::string("supervisor")})
    EXPECT_TRUE(fs::exists(service_ + "/" + name)) << name;
  EXPECT_FALSE(kernel_->killed.count(77)) << "a task in an orphan is not ours to kill";
  EXPECT_EQ(m.remove_orphans(), 0u);
}

TEST_F(CgroupSlotV2, BadSlotNamesAreRefused) {
  auto m = open_ok(config());
  for (std::string_view bad : {"", ".", "..", "a/b", "supervisor", "sp ace"}) {
    auto s = m.create(bad, 0);
    ASSERT_FALSE(s) << bad;
    EXPECT_EQ(s.error().code, EINVAL) << bad;
  }
}

TEST_F(CgroupSlotV2, CreatedParentOutlivesTheManagerUntilTheLastSlot) {
  // Memory enabled already (as after a first start), so the parent gets memory files.
  build({}, "/system.slice/soroka.service/supervisor", "", "memory pids\n");
  const std::string parent = service_ + "/workers";
  auto c = config();
  c.parent = parent;
  c.create_parent = true;
  std::unique_ptr<CgroupSlot> slot;
  {
    auto m = open_ok(c);
    ASSERT_EQ(m.mode(), CgroupMode::v2) << m.description();
    EXPECT_EQ(m.base_dir(), parent);
    EXPECT_TRUE(fs::is_directory(parent));
    // The new parent has no processes, so enabling memory below it needs no move.
    EXPECT_TRUE(has_token(slurp(parent + "/cgroup.subtree_control"), "memory"));
    auto s = m.create("w", 32 * kMiB);
    ASSERT_TRUE(s) << s.error().message;
    slot = std::move(*s);
  }
  EXPECT_TRUE(fs::is_directory(parent));  // the slot still needs it
  slot.reset();
  EXPECT_FALSE(fs::exists(parent));
}

TEST_F(CgroupSlotV2, RealXattrIsRead) {
  std::string dir = t().mkdir("xattr-probe");
  if (::setxattr(dir.c_str(), "trusted.delegate", "1", 1, 0) != 0)
    GTEST_SKIP() << "setxattr trusted.delegate on " << dir << ": " << std::strerror(errno)
                 << " (needs root and a filesystem with trusted xattrs)";
  CgroupFs real;
  EXPECT_EQ(real.xattr(dir, "trusted.delegate"), "1");
  EXPECT_EQ(real.xattr(dir, "user.delegate"), std::nullopt);
}

// --- v1: a hybrid host (cgroup2 without controllers at .../unified) ---

class CgroupSlotV1 : public ::testing::Test {
 protected:
  void SetUp() override { build({}); }
  void build(FakeKernel::Options o) {
    tree_ = std::make_unique<FixtureTree>();
    t().write_process("self", in_cgroup("4:memory:/soroka\n0::/\n"));
    t().write("sys/fs/cgroup/unified/cgroup.controllers", "\n");
    t().write("sys/fs/cgroup/unified/cgroup.subtree_control", "\n");
    t().write("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
    t().write("sys/fs/cgroup/memory/soroka/memory.limit_in_bytes", "1073741824\n");
    if (o.memsw)
      t().write("sys/fs/cgroup/memory/soroka/memory.memsw.limit_in_bytes", "9223372036854771712\n");
    t().write("sys/fs/cgroup/memory/soroka/cgroup.procs", "900\n");
    service_ = t().path("sys/fs/cgroup/memory/soroka");
    kernel_ = std::make_shared<FakeKernel>(FakeKernel::Version::v1, t().v1_mount(), o);
  }
  CgroupConfig config() const {
    CgroupConfig c;
    c.roots = t().roots();
    c.fs = kernel_;
    return c;
  }
  FixtureTree& t() const { return *tree_; }
  std::unique_ptr<FixtureTree> tree_;
  std::shared_ptr<FakeKernel> kernel_;
  std::string service_;
};

TEST_F(CgroupSlotV1, HybridHostUsesTheOwnMemoryCgroup) {
  auto m = CgroupManager::open(config());
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->mode(), CgroupMode::v1);
  EXPECT_EQ(m->base_dir(), service_);
  EXPECT_NE(m->description().find("memory+swap limits"), std::string::npos);
  EXPECT_TRUE(kernel_->writes.empty());  // v1 has no internal-process rule: nothing moves
}

TEST_F(CgroupSlotV1, MemswStaysAboveTheLimitInEveryResize) {
  auto m = CgroupManager::open(config());
  ASSERT_TRUE(m);
  auto slot = m->create("w", 64 * kMiB);
  ASSERT_TRUE(slot) << slot.error().message;
  ASSERT_TRUE((*slot)->resize(128 * kMiB));
  ASSERT_TRUE((*slot)->resize(32 * kMiB));
  ASSERT_TRUE((*slot)->resize(0));
  std::vector<std::pair<std::string, std::string>> seq;
  for (auto& [p, d] : kernel_->writes) seq.emplace_back(fs::path(p).filename(), d);
  using P = std::pair<std::string, std::string>;
  EXPECT_EQ(seq, (std::vector<P>{
                     {"memory.limit_in_bytes", "67108864"},  // from unlimited: lower mem first
                     {"memory.memsw.limit_in_bytes", "67108864"},
                     {"memory.memsw.limit_in_bytes", "134217728"},  // raise: memsw first
                     {"memory.limit_in_bytes", "134217728"},
                     {"memory.limit_in_bytes", "33554432"},  // lower: mem first
                     {"memory.memsw.limit_in_bytes", "33554432"},
                     {"memory.memsw.limit_in_bytes", "-1"},  // unlimited is a raise
                     {"memory.limit_in_bytes", "-1"},
                 }));
}

TEST_F(CgroupSlotV1, WithoutSwapAccountingOnlyTheLimitIsWritten) {
  build({.memsw = false});
  auto m = CgroupManager::open(config());
  ASSERT_TRUE(m);
  EXPECT_NE(m->description().find("no swap accounting"), std::string::npos);
  auto slot = m->create("w", 64 * kMiB);
  ASSERT_TRUE(slot) << slot.error().message;
  EXPECT_EQ(kernel_->written_files(), std::vector<std::string>{"memory.limit_in_bytes"});
}

TEST_F(CgroupSlotV1, OomControlAndMaxUsage) {
  auto m = CgroupManager::open(config());
  ASSERT_TRUE(m);
  auto slot = m->create("w", 64 * kMiB);
  ASSERT_TRUE(slot);
  const std::string dir = (*slot)->dir();
  put(dir + "/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
  put(dir + "/memory.max_usage_in_bytes", "67108864\n");
  put(dir + "/memory.usage_in_bytes", "0\n");
  EXPECT_EQ((*slot)->oom_kills().value(), 1u);
  EXPECT_EQ((*slot)->peak_bytes().value(), 64 * kMiB);
  EXPECT_EQ((*slot)->current_bytes().value(), 0u);
  EXPECT_FALSE((*slot)->needs_sampling());
  put(dir + "/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n");  // 4.12
  EXPECT_EQ((*slot)->oom_kills().error().code, ENOTSUP);
}

TEST_F(CgroupSlotV1, NotWritableIsNoneOrAnErrorWhenForced) {
  kernel_->uid = 1000;
  kernel_->read_only.insert(service_);
  auto m = CgroupManager::open(config());
  ASSERT_TRUE(m);
  EXPECT_EQ(m->mode(), CgroupMode::none);
  EXPECT_NE(m->description().find("v1 needs root"), std::string::npos) << m->description();
  auto c = config();
  c.mode = CgroupMode::v1;
  auto forced = CgroupManager::open(c);
  ASSERT_FALSE(forced);
  EXPECT_EQ(forced.error().code, EACCES);
}

// --- none ---

TEST(CgroupSlotNone, ForcedNoneTouchesNothing) {
  FixtureTree t;
  auto kernel =
      std::make_shared<FakeKernel>(FakeKernel::Version::v2, t.v2_mount(), FakeKernel::Options{});
  CgroupConfig c;
  c.roots = t.roots();
  c.fs = kernel;
  c.mode = CgroupMode::none;
  auto m = CgroupManager::open(c);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->mode(), CgroupMode::none);
  EXPECT_NE(m->description().find("switched off"), std::string::npos);
  auto slot = m->create("w", 64 * kMiB);
  ASSERT_TRUE(slot);
  EXPECT_EQ((*slot)->dir(), "");
  EXPECT_EQ((*slot)->procs_path(), "");
  EXPECT_EQ((*slot)->peak_bytes().error().code, ENOTSUP);
  EXPECT_EQ((*slot)->oom_kills().error().code, ENOTSUP);
  EXPECT_EQ((*slot)->current_bytes().error().code, ENOTSUP);
  EXPECT_TRUE((*slot)->resize(128 * kMiB));
  EXPECT_TRUE((*slot)->kill_all(SIGKILL));
  EXPECT_TRUE((*slot)->remove());
  slot->reset();
  EXPECT_TRUE(kernel->writes.empty());
  EXPECT_TRUE(kernel->made.empty());
  EXPECT_TRUE(kernel->signals.empty());
}

TEST(CgroupSlotNone, NoMountsGiveNoneWithBothReasons) {
  FixtureTree t;
  t.write_process("self", in_cgroup("0::/\n"));
  auto kernel =
      std::make_shared<FakeKernel>(FakeKernel::Version::v2, t.v2_mount(), FakeKernel::Options{});
  CgroupConfig c;
  c.roots = t.roots();  // no sys/fs/cgroup in the tree: both mounts "none"
  c.fs = kernel;
  auto m = CgroupManager::open(c);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->mode(), CgroupMode::none);
  EXPECT_NE(m->description().find("cgroup-v2: no cgroup2 mount"), std::string::npos);
  EXPECT_NE(m->description().find("cgroup-v1: no cgroup v1 memory mount"), std::string::npos);
}

// --- parsers ---

TEST(CgroupSlotParse, Tokens) {
  EXPECT_TRUE(has_token("cpu io memory pids\n", "memory"));
  EXPECT_FALSE(has_token("cpu io memoryx pids", "memory"));
  EXPECT_FALSE(has_token("", "memory"));
  EXPECT_TRUE(has_token("memory", "memory"));
}

TEST(CgroupSlotParse, SlotNameSaysWhoseItIs) {
  EXPECT_EQ(slot_name("sim base/x", 9035, 2), "sim_base_x-9035-2");
  EXPECT_EQ(slot_name("", 7, 1), "worker-7-1");
  EXPECT_EQ(slot_name("..", 7, 1), "worker-7-1");
  EXPECT_EQ(slot_name(std::string(100, 'a'), 7, 1), std::string(24, 'a') + "-7-1");
  EXPECT_EQ(slot_creator(slot_name("soroka-worker-pocketsphinx", 4194304, 18446744073709551615u)),
            std::optional<pid_t>(4194304));
}

TEST(CgroupSlotParse, SlotCreator) {
  EXPECT_EQ(slot_creator("soroka-worker-sim-base-0-9035-2"), std::optional<pid_t>(9035));
  EXPECT_EQ(slot_creator("probe-27243-1"), std::optional<pid_t>(27243));
  EXPECT_EQ(slot_creator("w"), std::nullopt);
  EXPECT_EQ(slot_creator("supervisor"), std::nullopt);
  EXPECT_EQ(slot_creator("x-12"), std::nullopt);
  EXPECT_EQ(slot_creator("-12-3"), std::nullopt);
  EXPECT_EQ(slot_creator("x--3"), std::nullopt);
  EXPECT_EQ(slot_creator("x-12-"), std::nullopt);
  EXPECT_EQ(slot_creator("x-0-3"), std::nullopt);
  EXPECT_EQ(slot_creator("x-1a-3"), std::nullopt);
  EXPECT_EQ(slot_creator("x-99999999999-3"), std::nullopt);
}

TEST(CgroupSlotParse, Pids) {
  EXPECT_EQ(parse_pids("812\n813\n"), (std::vector<pid_t>{812, 813}));
  EXPECT_EQ(parse_pids(""), std::vector<pid_t>{});
  EXPECT_EQ(parse_pids("12\nx\n-3\n0\n14"), (std::vector<pid_t>{12, 14}));
}

}  // namespace
}  // namespace soroka::worker

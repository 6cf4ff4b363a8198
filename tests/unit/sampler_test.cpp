// Unit tests of the Sampler on fixture trees: target resolution, v1/v2/hybrid, fast path, errors.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>
#include <string>

#include "oomguard/levels.h"
#include "oomguard/sampler.h"
#include "support/fixture.h"
#include "util/file_reader.h"
#include "util/parse.h"

namespace soroka::oomguard {
namespace {

using test::FixtureTree;
using test::V1Group;
using test::V2Group;

constexpr std::uint64_t MiB = 1024 * 1024;
constexpr std::uint64_t GiB = 1024 * MiB;

std::uint64_t page_size() {
  return static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

// Expected values are read from the tree with this small independent parser, so the tests
// follow a re-captured fixture while still checking the code under test against the text.
std::uint64_t value_of(const std::string& text, std::string_view key) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string k;
    std::uint64_t v = 0;
    if (ls >> k >> v && (k == key || k == std::string(key) + ":")) return v;
  }
  ADD_FAILURE() << "no " << key << " in:\n" << text;
  return 0;
}
std::uint64_t file_u64(const FixtureTree& t, std::string_view rel) {
  return std::stoull(t.read(rel));
}
std::uint64_t meminfo_bytes(const FixtureTree& t, std::string_view key) {
  return value_of(t.read("proc/meminfo"), key) * 1024;
}

// The effective view of two snapshots is the same.
void expect_same_view(const Snapshot& a, const Snapshot& b) {
  EXPECT_EQ(a.limit_bytes, b.limit_bytes);
  EXPECT_EQ(a.used_bytes, b.used_bytes);
  EXPECT_EQ(a.available_bytes, b.available_bytes);
  EXPECT_DOUBLE_EQ(a.used_percent, b.used_percent);
  EXPECT_EQ(a.bound_by_cgroup, b.bound_by_cgroup);
  EXPECT_EQ(a.high_bytes_effective, b.high_bytes_effective);
  ASSERT_EQ(a.cgroup.has_value(), b.cgroup.has_value());
  if (a.cgroup) {
    EXPECT_EQ(a.cgroup->usage_bytes, b.cgroup->usage_bytes);
    EXPECT_EQ(a.cgroup->working_set_bytes, b.cgroup->working_set_bytes);
    EXPECT_EQ(a.cgroup->limit_bytes, b.cgroup->limit_bytes);
    EXPECT_EQ(a.cgroup->high_bytes, b.cgroup->high_bytes);
  }
}

test::FakeProcess proc_with(std::uint64_t rss_pages, std::string cgroup) {
  test::FakeProcess p;
  p.rss_pages = rss_pages;
  p.cgroup = std::move(cgroup);
  return p;
}
Target pid_target(pid_t pid, std::optional<std::string> cgroup = std::nullopt) {
  Target t;
  t.pid = pid;
  t.cgroup = std::move(cgroup);
  return t;
}
// An unlimited group: memory.current and the anon part of memory.stat.
V2Group v2_group(std::uint64_t current, std::uint64_t anon) {
  V2Group g;
  g.current = current;
  g.anon = anon;
  return g;
}
V1Group v1_group(std::uint64_t usage, std::uint64_t rss, std::uint64_t inactive_file) {
  V1Group g;
  g.usage = usage;
  g.rss = rss;
  g.inactive_file = inactive_file;
  return g;
}

Result<Sampler> open_self(const FixtureTree& t) {
  return Sampler::open(t.roots(), Target{});
}
Result<Sampler> open_cgroup(const FixtureTree& t, std::string cg) {
  Target target;
  target.cgroup = std::move(cg);
  return Sampler::open(t.roots(), target);
}

// ====================================================================== cgroup v1 (captured)

TEST(SamplerV1, LimitedLeaf) {
  FixtureTree t;
  t.copy_scenario("v1-limited-leaf");
  auto s = open_self(t);
  ASSERT_TRUE(s) << s.error().message;
  const std::string leaf = t.v1_mount() + "/jobs/soroka";
  EXPECT_EQ(s->info().source, Source::cgroup_v1);
  EXPECT_EQ(s->info().cgroup_path, "/jobs/soroka");
  EXPECT_EQ(s->info().cgroup_dir, leaf);
  ASSERT_EQ(s->info().chain.size(), 1u);  // /jobs is unlimited: not a constraint
  EXPECT_EQ(s->info().chain[0], leaf);
  EXPECT_EQ(s->info().pid.value_or(0), ::getpid());

  auto snap = s->sample();
  ASSERT_TRUE(snap) << snap.error().message;
  const std::string rel = "sys/fs/cgroup/memory/jobs/soroka/";
  const std::uint64_t usage = file_u64(t, rel + "memory.usage_in_bytes");
  const std::uint64_t inactive = value_of(t.read(rel + "memory.stat"), "total_inactive_file");
  ASSERT_GT(inactive, 0u);  // the capture has page cache to subtract
  ASSERT_TRUE(snap->cgroup);
  EXPECT_EQ(snap->source, Source::cgroup_v1);
  EXPECT_EQ(snap->cgroup->usage_bytes, usage);
  EXPECT_EQ(snap->cgroup->working_set_bytes, usage - inactive);
  EXPECT_EQ(snap->cgroup->limit_bytes, Limit{512 * MiB});
  EXPECT_FALSE(snap->cgroup->high_bytes);
  EXPECT_FALSE(snap->cgroup->swap_limit_bytes);  // memsw unlimited
  EXPECT_EQ(snap->cgroup->oom_kill_count, 0u);
  EXPECT_EQ(snap->cgroup->max_events, 0u);

  EXPECT_TRUE(snap->bound_by_cgroup);
  EXPECT_EQ(snap->limit_bytes, 512 * MiB);
  EXPECT_EQ(snap->used_bytes, usage - inactive);
  EXPECT_EQ(snap->available_bytes, 512 * MiB - (usage - inactive));
  EXPECT_DOUBLE_EQ(snap->used_percent,
                   100.0 * static_cast<double>(usage - inactive) / static_cast<double>(512 * MiB));
  EXPECT_EQ(snap->system.total_bytes, meminfo_bytes(t, "MemTotal"));
  EXPECT_EQ(snap->system.available_bytes, meminfo_bytes(t, "MemAvailable"));

  ASSERT_TRUE(snap->process);
  EXPECT_EQ(snap->process->pid, ::getpid());
  std::istringstream statm(t.read("proc/self/statm"));
  std::uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  EXPECT_EQ(snap->process->rss_bytes, resident * page_size());
  ASSERT_TRUE(snap->psi);  // v1: the system's /proc/pressure/memory
}

TEST(SamplerV1, MountsFromMountinfoGiveTheSameTarget) {
  FixtureTree t;
  t.copy_scenario("v1-limited-leaf");
  auto a = Sampler::open(t.roots(), Target{});
  auto b = Sampler::open(t.roots_from_mountinfo(), Target{});
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->info().source, Source::cgroup_v1);
  EXPECT_EQ(b->info().cgroup_dir, a->info().cgroup_dir);
  auto mounts = resolve_mounts(t.roots_from_mountinfo());
  ASSERT_TRUE(mounts);
  EXPECT_EQ(mounts->v1_memory.value_or(""), t.v1_mount());
  EXPECT_EQ(mounts->v2.value_or(""), t.hybrid_v2_mount());
}

TEST(SamplerV1, UnlimitedCgroupTargetIsBoundByTheHost) {
  // /jobs carries the kernel's "no limit" 9223372036854771712.
  FixtureTree t;
  t.copy_scenario("v1-limited-leaf");
  ASSERT_EQ(t.read("sys/fs/cgroup/memory/jobs/memory.limit_in_bytes"), "9223372036854771712\n");
  auto s = open_cgroup(t, "/jobs");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->info().source, Source::cgroup_v1);
  EXPECT_FALSE(s->info().pid);
  auto snap = s->sample();
  ASSERT_TRUE(snap) << snap.error().message;
  ASSERT_TRUE(snap->cgroup);
  EXPECT_FALSE(snap->cgroup->limit_bytes);
  EXPECT_FALSE(snap->bound_by_cgroup);
  EXPECT_FALSE(snap->process);
  const std::uint64_t total = meminfo_bytes(t, "MemTotal");
  EXPECT_EQ(snap->limit_bytes, total);
  EXPECT_EQ(snap->used_bytes, total - meminfo_bytes(t, "MemAvailable"));
}

TEST(SamplerV1, NestedAncestorTighterThanLeaf) {
  // /jobs/batch.slice limit 256 MiB holds /jobs/batch.slice/soroka limit 1 GiB.
  FixtureTree t;
  t.copy_scenario("v1-nested-ancestor");
  auto s = open_self(t);
  ASSERT_TRUE(s) << s.error().message;
  const std::string leaf = t.v1_mount() + "/jobs/batch.slice/soroka";
  ASSERT_EQ(s->info().chain.size(), 2u);
  EXPECT_EQ(s->info().chain[0], leaf);
  EXPECT_EQ(s->info().chain[1], t.v1_mount() + "/jobs/batch.slice");

  auto snap = s->sample();
  ASSERT_TRUE(snap) << snap.error().message;
  const std::string anc = "sys/fs/cgroup/memory/jobs/batch.slice/";
  const std::uint64_t anc_ws = file_u64(t, anc + "memory.usage_in_bytes") -
                               value_of(t.read(anc + "memory.stat"), "total_inactive_file");
  ASSERT_TRUE(snap->cgroup);
  EXPECT_EQ(snap->cgroup->limit_bytes, Limit{256 * MiB});  // tightest on the path
  EXPECT_TRUE(snap->bound_by_cgroup);
  EXPECT_EQ(snap->limit_bytes, 256 * MiB);
  EXPECT_EQ(snap->used_bytes, anc_ws);
  EXPECT_EQ(snap->available_bytes, 256 * MiB - anc_ws);
}

TEST(SamplerV1, CountersAndMemswSwapLimit) {
  FixtureTree t;
  t.write_meminfo(8'000'000, 4'000'000, 6'000'000);
  t.write_process("self", proc_with(1000, "4:memory:/svc\n0::/\n"));
  V1Group g;
  g.usage = 300 * MiB;
  g.limit = 512 * MiB;
  g.rss = 250 * MiB;
  g.inactive_file = 40 * MiB;
  g.failcnt = 17;
  g.oom_kills = 2;
  g.memsw_limit = 768 * MiB;
  t.make_v1_cgroup("/svc", g);
  auto s = open_self(t);
  ASSERT_TRUE(s) << s.error().message;
  auto snap = s->sample();
  ASSERT_TRUE(snap) << snap.error().message;
  ASSERT_TRUE(snap->cgroup);
  EXPECT_EQ(snap->cgroup->working_set_bytes, 260 * MiB);
  EXPECT_EQ(snap->cgroup->max_events, 17u);
  EXPECT_EQ(snap->cgroup->oom_kill_count, 2u);
  EXPECT_EQ(snap->cgroup->swap_limit_bytes, Limit{256 * MiB});  // memsw - limit
  EXPECT_FALSE(snap->psi);  // no /proc/pressure/memory in this tree
}

TEST(SamplerV1, ProcessInTheRootCgroupHasNoCgroupLimit) {
  FixtureTree t;
  t.write_meminfo(8'000'000, 4'000'000, 6'000'000);
  t.write_process("self", proc_with(1000, "4:memory:/\n0::/\n"));
  t.make_v1_cgroup("/", v1_group(2 * GiB, GiB, 500 * MiB));
  auto s = open_self(t);
  ASSERT_TRUE(s) << s.error().message;
  auto snap = s->sample();
  ASSERT_TRUE(snap) << snap.error().message;
  EXPECT_FALSE(snap->bound_by_cgroup);
  EXPECT_EQ(snap->limit_bytes, 8'000'000ULL * 1024);
  EXPECT_EQ(snap->available_bytes, 6'000'000ULL * 1024);
  // The root of a hierarchy is the host itself, reported as on v2.
  EXPECT_EQ(s->info().source, Source::system);
  EXPECT_FALSE(snap->cgroup.has_value());
  auto by_path = Sampler::open(t.roots(), Target{.pid = 0, .cgroup = std::string("/")});
  ASSERT_TRUE(by_path) << by_path.error().message;
  EXPECT_EQ(by_path->info().source, Source::system);
}

// ====================================================================== hybrid host

TEST(SamplerHybrid, V2WithoutMemoryControllerFallsBackToV1) {
  // Like the capture VM: cgroup2 at /sys/fs/cgroup/unified has the service's dir (with
  // memory.pressure) but no memory.current; the memory controller is on v1.
  FixtureTree t;
  t.copy_scenario("hybrid-host");
  ASSERT_TRUE(t.exists("sys/fs/cgroup/unified/system.slice/soroka.service/memory.pressure"));
  ASSERT_FALSE(t.exists("sys/fs/cgroup/unified/system.slice/soroka.service/memory.current"));
  auto s = Sampler::open(t.roots_from_mountinfo(), Target{});
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->info().source, Source::cgroup_v1);
  EXPECT_EQ(s->info().cgroup_path, "/system.slice/soroka.service");
  EXPECT_EQ(s->info().cgroup_dir, t.v1_mount() + "/system.slice/soroka.service");
  auto snap = s->sample();
  ASSERT_TRUE(snap) << snap.error().message;
  EXPECT_TRUE(snap->bound_by_cgroup);
  EXPECT_EQ(snap->limit_bytes, 512 * MiB);
  EXPECT_TRUE(snap->psi);
}

TEST(SamplerHybrid, CgroupTargetByPathAndByDirectory) {
  FixtureTree t;
  t.copy_scenario("hybrid-host");
  auto by_path = open_cgroup(t, "/system.slice/soroka.service");
  ASSERT_TRUE(by_path) << by_path.error().message;
  EXPECT_EQ(by_path->info().source, Source::cgroup_v1);
  EXPECT_EQ(by_path->info().cgroup_dir, t.v1_mount() + "/system.slice/soroka.service");

  auto by_dir = open_cgroup(t, t.v1_mount() + "/system.slice/soroka.service/");
  ASSERT_TRUE(by_dir) << by_dir.error().message;
  EXPECT_EQ(by_dir->info().source, Source::cgroup_v1);
  EXPECT_EQ(by_dir->info().cgroup_path, "/system.slice/soroka.service");

  // The cgroup2 directory of the same service exists but cannot be measured.
  auto v2_dir = open_cgroup(t, t.hybrid_v2_mount() + "/system.slice/soroka.service");
  ASSERT_FALSE(v2_dir);
  EXPECT_EQ(v2_dir.error().code, ENOENT);
  EXPECT_NE(v2_dir.error().message.find("no memory controller"), std::string::npos)
      << v2_dir.error().message;
}

// ====================================================================== cgroup v2

TEST(SamplerV2, SystemdServiceWithMaxHighAndSwapMax) {
  FixtureTree t;
  t.copy_scenario("v2-systemd-service");
  auto s = open_self(t);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->info().source, Source::cgroup_v2);
  EXPECT_EQ(s->info().cgroup_path, "/system.slice/soroka.service");
  EXPECT_EQ(s->info().cgroup_dir, t.v2_mount() + "/system.slice/soroka.service");
  EXPECT_EQ(s->info().chain.size(), 1u);  // system.slice has neither max nor high

  auto snap = s->sample();
  ASSERT_TRUE(snap) << snap.error().message;
  ASSERT_TRUE(snap->cgroup);
  EXPECT_EQ(snap->cgroup->usage_bytes, 900 * MiB);
  EXPECT_EQ(snap->cgroup->working_set_bytes, 780 * MiB);  // minus 120 MiB inactive_file
  EXPECT_EQ(snap->cgroup->limit_bytes, Limit{2 * GiB});
  EXPECT_EQ(snap->cgroup->high_bytes, Limit{1536 * MiB});
  EXPECT_EQ(snap->cgroup->swap_limit_bytes, Limit{1 * GiB});
  EXPECT_EQ(snap->cgroup->oom_kill_count, 0u);
  EXPECT_TRUE(snap->bound_by_cgroup);
  EXPECT_EQ(snap->limit_bytes, 2 * GiB);
  EXPECT_EQ(snap->used_bytes, 780 * MiB);
  EXPECT_EQ(snap->available_bytes, 2 * GiB - 780 * MiB);
  EXPECT_EQ(snap->high_bytes_effective, 1536 * MiB);
  // v2: the cgroup's own memory.pressure, not the (idle) system file.
  ASSERT_TRUE(snap->psi);
  EXPECT_DOUBLE_EQ(snap->psi->some.avg10, 0.31);
  EXPECT_EQ(snap->psi->full.total_us, 40977u);
  // MemoryHigh=1.5G of MemoryMax=2G: the warning point moves from 85 % to 75 %.
  EXPECT_DOUBLE_EQ(effective_thresholds(Thresholds{}, *snap).warning_percent, 75.0);
}

TEST(SamplerV2, MountFromMountinfo) {
  FixtureTree t;
  t.copy_scenario("v2-systemd-service");
  auto s = Sampler::open(t.roots_from_mountinfo(), Target{});
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->info().source, Source::cgroup_v2);
  EXPECT_EQ(s->info().cgroup_dir, t.v2_mount() + "/system.slice/soroka.service");
}

TEST(SamplerV2, NestedSliceTighterThanService) {
  // workload.slice MemoryMax=1G (860 MiB charged incl. a sibling) > soroka.service MemoryMax=4G.
  FixtureTree t;
  t.copy_scenario("v2-nested-slice");
  auto s = open_self(t);
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_EQ(s->info().chain.size(), 2u);
  EXPECT_EQ(s->info().chain[1], t.v2_mount() + "/workload.slice");
  auto snap = s->sample();
  ASSERT_TRUE(snap) << snap.error().message;
  ASSERT_TRUE(snap->cgroup);
  EXPECT_EQ(snap->cgroup->working_set_bytes, 440 * MiB);  // the leaf's own
  EXPECT_EQ(snap->cgroup->limit_bytes, Limit{1 * GiB});
  EXPECT_EQ(snap->cgroup->max_events, 3u);
  EXPECT_TRUE(snap->bound_by_cgroup);
  EXPECT_EQ(snap->limit_bytes, 1 * GiB);
  EXPECT_EQ(snap->used_bytes, 760 * MiB);  // the slice's working set
  EXPECT_EQ(snap->available_bytes, 264 * MiB);
}

TEST(SamplerV2, NoLimitAnywhereIsBoundByTheHost) {
  FixtureTree t;
  t.copy_scenario("v2-unlimited");
  auto s = open_self(t);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->info().source, Source::cgroup_v2);
  EXPECT_EQ(s->info().chain.size(), 1u);
  auto snap = s->sample();
  ASSERT_TRUE(snap) << snap.error().message;
  ASSERT_TRUE(snap->cgroup);
  EXPECT_FALSE(snap->cgroup->limit_bytes);
  EXPECT_FALSE(snap->cgroup->high_bytes);
  EXPECT_FALSE(snap->cgroup->swap_limit_bytes);
  EXPECT_FALSE(snap->bound_by_cgroup);
  const std::uint64_t total = meminfo_bytes(t, "MemTotal");
  const std::uint64_t avail = meminfo_bytes(t, "MemAvailable");
  EXPECT_EQ(snap->limit_bytes, total);
  EXPECT_EQ(snap->used_bytes, total - avail);
  EXPECT_EQ(snap->available_bytes, avail);
  EXPECT_EQ(snap->high_bytes_effective, 0u);
}

TEST(SamplerV2, HighBelowWarningPointRaisesWarningEarly) {
  // MemoryMax=4G, MemoryHigh=2G; working set 2458 MiB = 60 % of the limit.
  FixtureTree t;
  t.copy_scenario("v2-high-below-warning");
  auto s = open_self(t);
  ASSERT_TRUE(s) << s.error().message;
  auto snap = s->sample();
  ASSERT_TRUE(snap) << snap.error().message;
  EXPECT_EQ(snap->limit_bytes, 4 * GiB);
  EXPECT_EQ(snap->high_bytes_effective, 2 * GiB);
  EXPECT_NEAR(snap->used_percent, 60.0, 0.1);
  EXPECT_EQ(snap->cgroup->high_events, 1842u);
  EffectiveThresholds e = effective_thresholds(Thresholds{}, *snap);
  EXPECT_DOUBLE_EQ(e.warning_percent, 50.0);
  LevelTracker tr{Thresholds{}};
  EXPECT_EQ(tr.update(*snap), Level::warning);
  EXPECT_EQ(classify(effective_thresholds(Thresholds{}, Snapshot{}), *snap), Level::normal);
}

TEST(SamplerV2, PsiMissingLeavesPsiEmpty) {
  FixtureTree t;
  t.copy_scenario("v2-psi-missing");
  ASSERT_FALSE(t.exists("proc/pressure/memory"));
  auto s = open_self(t);
  ASSERT_TRUE(s) << s.error().message;
  auto snap = s->sample();
  ASSERT_TRUE(snap) << snap.error().message;
  EXPECT_FALSE(snap->psi);
  EXPECT_EQ(snap->limit_bytes, 2 * GiB);
  EXPECT_EQ(snap->used_bytes, 1024 * MiB - 130 * MiB);
  auto fast = s->sample_fast(80);
  ASSERT_TRUE(fast) << fast.error().message;
  EXPECT_FALSE(fast->psi);
}

TEST(SamplerV2, MalformedPsiOrEventsDoNotFailTheSample) {
  FixtureTree t;
  t.copy_scenario("v2-systemd-service");
  const std::string svc = "sys/fs/cgroup/system.slice/soroka.service/";
  t.write(svc + "memory.pressure", "some avg10=0.31 avg60=");
  t.write(svc + "memory.events", "low 0\nhigh x\n");
  auto s = open_self(t);
  ASSERT_TRUE(s) << s.error().message;
  auto snap = s->sample();
  ASSERT_TRUE(snap) << snap.error().message;
  EXPECT_FALSE(snap->psi);
  EXPECT_EQ(snap->cgroup->oom_kill_count, 0u);
  EXPECT_EQ(snap->limit_bytes, 2 * GiB);
  // Once the files are whole again the next full sample sees them.
  t.write(svc + "memory.pressure", test::psi_text(4.5, 1000, 1.0, 500));
  t.write(svc + "memory.events", test::v2_events_text(7, 3, 1));
  snap = s->sample();
  ASSERT_TRUE(snap) << snap.error().message;
  ASSERT_TRUE(snap->psi);
  EXPECT_DOUBLE_EQ(snap->psi->some.avg10, 4.5);
  EXPECT_EQ(snap->cgroup->oom_kill_count, 1u);
  EXPECT_EQ(snap->cgroup->high_events, 7u);
}

TEST(SamplerSystem, NoCgroupAtAllIsBoundByTheHost) {
  FixtureTree t;
  t.write_meminfo(16'000'000, 2'000'000, 10'000'000);
  t.write_system_psi(test::psi_text(1.25, 5000, 0.5, 1000));
  t.write_process("self", proc_with(5000, "0::/\n"));
  t.mkdir("sys/fs/cgroup");  // pure v2 host; the root cgroup has no memory.current
  auto s = open_self(t);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->info().source, Source::system);
  EXPECT_TRUE(s->info().chain.empty());
  auto snap = s->sample();
  ASSERT_TRUE(snap) << snap.error().message;
  EXPECT_EQ(snap->source, Source::system);
  EXPECT_FALSE(snap->cgroup);
  EXPECT_FALSE(snap->bound_by_cgroup);
  EXPECT_EQ(snap->limit_bytes, 16'000'000ULL * 1024);
  EXPECT_EQ(snap->used_bytes, 6'000'000ULL * 1024);
  EXPECT_EQ(snap->available_bytes, 10'000'000ULL * 1024);
  ASSERT_TRUE(snap->process);
  EXPECT_EQ(snap->process->rss_bytes, 5000 * page_size());
  ASSERT_TRUE(snap->psi);
  EXPECT_DOUBLE_EQ(snap->psi->some.avg10, 1.25);
}

// ====================================================================== targets

TEST(SamplerTarget, CgroupPathAsProcShowsItAndAbsoluteDir) {
  FixtureTree t;
  t.copy_scenario("v2-systemd-service");
  const std::string want = t.v2_mount() + "/system.slice/soroka.service";
  for (std::string target : {std::string("/system.slice/soroka.service"),
                             std::string("/system.slice/soroka.service/"), want, want + "/"}) {
    auto s = open_cgroup(t, target);
    ASSERT_TRUE(s) << target << ": " << s.error().message;
    EXPECT_EQ(s->info().source, Source::cgroup_v2) << target;
    EXPECT_EQ(s->info().cgroup_path, "/system.slice/soroka.service") << target;
    EXPECT_EQ(s->info().cgroup_dir, want) << target;
    EXPECT_FALSE(s->info().pid) << target;  // a cgroup target watches no process
    auto snap = s->sample();
    ASSERT_TRUE(snap) << snap.error().message;
    EXPECT_FALSE(snap->process);
    EXPECT_EQ(snap->limit_bytes, 2 * GiB);
  }
}

TEST(SamplerTarget, BadCgroupTargetsAreErrorsNamingThePath) {
  FixtureTree t;
  t.copy_scenario("v2-systemd-service");
  auto rel = open_cgroup(t, "system.slice/soroka.service");
  ASSERT_FALSE(rel);
  EXPECT_EQ(rel.error().code, EINVAL);
  EXPECT_NE(rel.error().message.find("must start with '/'"), std::string::npos);

  auto missing = open_cgroup(t, "/system.slice/nope.service");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  EXPECT_NE(missing.error().message.find("/system.slice/nope.service"), std::string::npos)
      << missing.error().message;

  t.mkdir("sys/fs/cgroup/init.scope");  // exists, but memory is not enabled for it
  auto no_mem = open_cgroup(t, t.v2_mount() + "/init.scope");
  ASSERT_FALSE(no_mem);
  EXPECT_NE(no_mem.error().message.find("no memory controller"), std::string::npos);

  EXPECT_FALSE(open_cgroup(t, ""));
}

TEST(SamplerTarget, OtherPidInTheFakeProc) {
  FixtureTree t;
  t.copy_scenario("v2-systemd-service");
  t.write_process("4242", proc_with(1000, "0::/workload.slice/other.service\n"));
  V2Group g;
  g.current = 300 * MiB;
  g.max = 512 * MiB;
  g.anon = 250 * MiB;
  g.inactive_file = 20 * MiB;
  g.active_file = 30 * MiB;
  t.make_v2_cgroup("/workload.slice/other.service", g);
  t.make_v2_cgroup("/workload.slice", v2_group(300 * MiB, 250 * MiB));

  auto s = Sampler::open(t.roots(), pid_target(4242));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->info().pid.value_or(0), 4242);
  EXPECT_EQ(s->info().cgroup_path, "/workload.slice/other.service");
  auto snap = s->sample();
  ASSERT_TRUE(snap) << snap.error().message;
  ASSERT_TRUE(snap->process);
  EXPECT_EQ(snap->process->pid, 4242);
  EXPECT_EQ(snap->process->rss_bytes, 1000 * page_size());
  EXPECT_EQ(snap->limit_bytes, 512 * MiB);
  EXPECT_EQ(snap->used_bytes, 280 * MiB);

  // --pid together with --cgroup: the process's RSS, the named cgroup's limits.
  auto both = Sampler::open(t.roots(), pid_target(4242, "/system.slice/soroka.service"));
  ASSERT_TRUE(both) << both.error().message;
  auto snap2 = both->sample();
  ASSERT_TRUE(snap2) << snap2.error().message;
  EXPECT_EQ(snap2->process->pid, 4242);
  EXPECT_EQ(snap2->limit_bytes, 2 * GiB);
}

TEST(SamplerTarget, MissingPidIsESRCH) {
  FixtureTree t;
  t.copy_scenario("v2-systemd-service");
  auto s = Sampler::open(t.roots(), pid_target(999999));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ESRCH);
  EXPECT_NE(s.error().message.find("999999"), std::string::npos);
}

TEST(SamplerTarget, ProcessThatDisappears) {
  FixtureTree t;
  t.copy_scenario("v2-systemd-service");
  t.write_process("4242", proc_with(1000, "0::/system.slice/soroka.service\n"));
  auto s = Sampler::open(t.roots(), pid_target(4242));
  ASSERT_TRUE(s) << s.error().message;
  auto first = s->sample();
  ASSERT_TRUE(first && first->process);
  EXPECT_FALSE(s->process_gone());
  // A reaped process: its open statm reads nothing (the kernel says ESRCH).
  t.write("proc/4242/statm", "");
  auto second = s->sample();
  ASSERT_TRUE(second) << second.error().message;  // the cgroup is still there to watch
  EXPECT_FALSE(second->process);
  EXPECT_TRUE(s->process_gone());
  EXPECT_EQ(second->limit_bytes, 2 * GiB);
  // Gone stays gone: a recycled pid is not the process we were watching.
  t.write("proc/4242/statm", "100 50 10 1 0 40 0\n");
  auto third = s->sample_fast(80);
  ASSERT_TRUE(third);
  EXPECT_FALSE(third->process);
}

TEST(SamplerTarget, RealChildProcessThatExits) {
  // The real kernel: a reaped child's open /proc/PID/statm fails with ESRCH.
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test binary
    ::pause();
    ::_exit(0);
  }
  // Whatever assertion fails below, the child is killed and reaped.
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      if (pid > 0 && ::kill(pid, SIGKILL) == 0) ::waitpid(pid, nullptr, 0);
    }
  } reaper{child};
  Roots host;  // real /proc, no cgroup: only the process and the host are watched
  host.cgroup_v2 = "";
  host.cgroup_v1_memory = "";
  auto s = Sampler::open(host, pid_target(child));
  if (!s) {
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    FAIL() << s.error().message;
  }
  EXPECT_EQ(s->info().source, Source::system);
  auto alive = s->sample();
  ASSERT_TRUE(alive) << alive.error().message;
  ASSERT_TRUE(alive->process);
  EXPECT_GT(alive->process->rss_bytes, 0u);
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  reaper.pid = 0;
  auto gone = s->sample();
  ASSERT_TRUE(gone) << gone.error().message;
  EXPECT_FALSE(gone->process);
  EXPECT_TRUE(s->process_gone());
}

// ====================================================================== fast path

TEST(SamplerFast, MatchesFullSampleAboveTheGreyZone) {
  FixtureTree t;
  t.copy_scenario("v2-systemd-service");
  const std::string svc = "sys/fs/cgroup/system.slice/soroka.service/";
  auto s = open_self(t);
  ASSERT_TRUE(s) << s.error().message;
  auto a = s->sample_fast(80);
  auto b = s->sample();
  ASSERT_TRUE(a && b);
  expect_same_view(*a, *b);

  // Usage jumps to 1900 MiB (93 % of 2 GiB) and the cache shrinks to 50 MiB, within the
  // fast path's 1 s stat cache: above the grey zone it must re-read memory.stat.
  t.write(svc + "memory.current", std::to_string(1900 * MiB) + "\n");
  t.write(svc + "memory.stat", test::v2_memory_stat_text(1800 * MiB, 50 * MiB, 50 * MiB));
  auto fast = s->sample_fast(80);
  auto full = s->sample();
  ASSERT_TRUE(fast && full);
  expect_same_view(*fast, *full);
  EXPECT_EQ(fast->used_bytes, 1850 * MiB);
  LevelTracker tf{Thresholds{}}, tu{Thresholds{}};
  EXPECT_EQ(tf.update(*fast), tu.update(*full));
  // 90.3 % of 2 GiB is only a warning, but 198 MiB left is under min_available (200 MiB).
  EXPECT_EQ(tf.level(), Level::critical);
}

TEST(SamplerFast, LimitAboveMemTotalUsesTheClampedLimitForTheGreyZone) {
  // docker --memory=64g on an 8 GiB host: compute_effective clamps the limit to MemTotal, so
  // 7.8 GiB charged is 97 % of what binds, and the fast path must not trust a stale cache.
  FixtureTree t;
  t.write_meminfo(8 * 1024 * 1024, 1 * 1024 * 1024, 2 * 1024 * 1024);  // kB: 8 GiB, 2 GiB avail
  t.write_process("self", proc_with(1000, "0::/docker/abc\n"));
  V2Group g;
  g.current = 7 * GiB;
  g.max = 64 * GiB;
  g.anon = 6 * GiB;
  g.inactive_file = 512 * MiB;
  g.active_file = 512 * MiB;
  t.make_v2_cgroup("/docker/abc", g);
  t.make_v2_cgroup("/docker", v2_group(7 * GiB, 6 * GiB));
  auto s = open_self(t);
  ASSERT_TRUE(s) << s.error().message;
  auto first = s->sample_fast(80);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(first->bound_by_cgroup);
  EXPECT_EQ(first->limit_bytes, 8 * GiB);
  // The cache is reclaimed and anon grows: working set 7.7 GiB of 8 GiB.
  t.write("sys/fs/cgroup/docker/abc/memory.current", std::to_string(7 * GiB + 800 * MiB) + "\n");
  t.write("sys/fs/cgroup/docker/abc/memory.stat",
          test::v2_memory_stat_text(7 * GiB + 600 * MiB, 100 * MiB, 100 * MiB));
  auto fast = s->sample_fast(80);
  auto full = s->sample();
  ASSERT_TRUE(fast && full);
  expect_same_view(*fast, *full);
  EXPECT_EQ(classify(effective_thresholds(Thresholds{}, *fast), *fast), Level::critical);
}

TEST(SamplerFast, BelowTheGreyZoneTheLevelStillMatches) {
  FixtureTree t;
  t.copy_scenario("v2-systemd-service");
  const std::string svc = "sys/fs/cgroup/system.slice/soroka.service/";
  auto s = open_self(t);
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_TRUE(s->sample_fast(80));
  t.write(svc + "memory.current", std::to_string(1000 * MiB) + "\n");
  t.write(svc + "memory.stat", test::v2_memory_stat_text(400 * MiB, 500 * MiB, 100 * MiB));
  auto fast = s->sample_fast(80);
  auto full = s->sample();
  ASSERT_TRUE(fast && full);
  // The fast path may keep a stale inactive_file, but usage always bounds the working set.
  EXPECT_EQ(fast->cgroup->usage_bytes, 1000 * MiB);
  EXPECT_LE(fast->used_bytes, fast->cgroup->usage_bytes);
  EXPECT_LT(fast->used_percent, 80.0);
  EXPECT_EQ(full->used_bytes, 500 * MiB);
  EXPECT_EQ(classify(effective_thresholds(Thresholds{}, *fast), *fast),
            classify(effective_thresholds(Thresholds{}, *full), *full));
}

TEST(SamplerFast, AncestorInTheGreyZoneIsReRead) {
  FixtureTree t;
  t.copy_scenario("v2-nested-slice");
  const std::string slice = "sys/fs/cgroup/workload.slice/";
  auto s = open_self(t);
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_TRUE(s->sample_fast(80));
  t.write(slice + "memory.current", std::to_string(1000 * MiB) + "\n");
  t.write(slice + "memory.stat", test::v2_memory_stat_text(900 * MiB, 20 * MiB, 60 * MiB));
  auto fast = s->sample_fast(80);
  auto full = s->sample();
  ASSERT_TRUE(fast && full);
  expect_same_view(*fast, *full);
  EXPECT_EQ(fast->used_bytes, 980 * MiB);
}

TEST(SamplerFast, MatchesFullSampleOnV1Capture) {
  FixtureTree t;
  t.copy_scenario("v1-limited-leaf");
  const std::string leaf = "sys/fs/cgroup/memory/jobs/soroka/";
  auto s = open_self(t);
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_TRUE(s->sample_fast(80));
  t.write(leaf + "memory.usage_in_bytes", std::to_string(480 * MiB) + "\n");
  t.write(leaf + "memory.stat", test::v1_memory_stat_text(460 * MiB, 8 * MiB, 12 * MiB, 512 * MiB));
  auto fast = s->sample_fast(80);
  auto full = s->sample();
  ASSERT_TRUE(fast && full);
  expect_same_view(*fast, *full);
  EXPECT_EQ(fast->used_bytes, 472 * MiB);
}

// Below the grey zone, with the host far from binding, a fast sample reads three files
// (usage, limit, statm), one pread each: BM_Snapshot's whole kernel cost.
TEST(SamplerFast, HotPathIsOneReadPerFile) {
  auto io = FileReader::open("/proc/self/io");
  if (!io) GTEST_SKIP() << "no /proc/self/io: " << io.error().message;
  auto syscr = [&] { return parse::keyed_u64(io->read().value_or(""), "syscr:").value_or(0); };
  FixtureTree t;
  t.copy_scenario("v1-limited-leaf");
  auto s = open_self(t);
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_TRUE(s->sample_fast(80));
  constexpr std::uint64_t n = 20;
  const std::uint64_t before = syscr();
  for (std::uint64_t i = 0; i < n; ++i) ASSERT_TRUE(s->sample_fast(80));
  const std::uint64_t reads = syscr() - before - 1;  // - the second look at /proc/self/io
  EXPECT_GE(reads, 3 * n);
  // A slow refresh falling due mid-loop reads meminfo, memory.stat, PSI and counters once.
  EXPECT_LE(reads, 3 * n + 6);
}

// ====================================================================== rescan, reopen

TEST(SamplerRescan, PicksUpANewAncestorLimit) {
  FixtureTree t;
  t.copy_scenario("v2-systemd-service");
  auto s = open_self(t);
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_EQ(s->info().chain.size(), 1u);
  // systemctl set-property system.slice MemoryMax=1G while 950 MiB (100 MiB cache) is charged.
  t.write("sys/fs/cgroup/system.slice/memory.max", "1073741824\n");
  t.write("sys/fs/cgroup/system.slice/memory.current", std::to_string(950 * MiB) + "\n");
  t.write("sys/fs/cgroup/system.slice/memory.stat",
          test::v2_memory_stat_text(800 * MiB, 100 * MiB, 30 * MiB));
  auto before = s->sample();
  ASSERT_TRUE(before);
  EXPECT_EQ(before->limit_bytes, 2 * GiB);  // limits are discovered at open/rescan
  ASSERT_TRUE(s->rescan());
  ASSERT_EQ(s->info().chain.size(), 2u);
  auto after = s->sample();
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(after->limit_bytes, 1 * GiB);
  EXPECT_EQ(after->used_bytes, 850 * MiB);
  // And back.
  t.write("sys/fs/cgroup/system.slice/memory.max", "max\n");
  ASSERT_TRUE(s->rescan());
  EXPECT_EQ(s->info().chain.size(), 1u);
}

TEST(SamplerRescan, AncestorWithOnlyMemoryHighIsWatched) {
  FixtureTree t;
  t.copy_scenario("v2-systemd-service");
  t.write("sys/fs/cgroup/system.slice/memory.high", "1073741824\n");
  auto s = open_self(t);
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_EQ(s->info().chain.size(), 2u);
  auto snap = s->sample();
  ASSERT_TRUE(snap);
  EXPECT_EQ(snap->cgroup->high_bytes, Limit{1 * GiB});
  EXPECT_EQ(snap->high_bytes_effective, 1 * GiB);  // below the binding 2 GiB limit
}

TEST(SamplerReopen, SameTargetIndependentReaders) {
  FixtureTree t;
  t.copy_scenario("v2-nested-slice");
  auto s = open_self(t);
  ASSERT_TRUE(s) << s.error().message;
  auto r = s->reopen();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->info().source, s->info().source);
  EXPECT_EQ(r->info().cgroup_dir, s->info().cgroup_dir);
  EXPECT_EQ(r->info().chain, s->info().chain);
  auto a = s->sample();
  auto b = r->sample();
  ASSERT_TRUE(a && b);
  expect_same_view(*a, *b);
}

TEST(SamplerDepth, ChainIsCappedAtMaxLevels) {
  FixtureTree t;
  t.write_meminfo(64'000'000, 30'000'000, 50'000'000);
  std::string path;
  for (int i = 0; i < 20; ++i) {
    path += "/l" + std::to_string(i);
    V2Group g;
    g.current = 100 * MiB;
    g.max = static_cast<std::uint64_t>(40 - i) * GiB;
    g.anon = 90 * MiB;
    t.make_v2_cgroup(path, g);
  }
  t.write_process("self", proc_with(10, "0::" + path + "\n"));
  auto s = open_self(t);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->info().chain.size(), Sampler::kMaxLevels);
  auto snap = s->sample();
  ASSERT_TRUE(snap) << snap.error().message;
  EXPECT_EQ(snap->limit_bytes, 21 * GiB);  // the leaf's: the tightest on the path
}

// ====================================================================== broken files

TEST(SamplerErrors, BrokenCgroupFilesFailTheSampleWithThePath) {
  FixtureTree t;
  t.copy_scenario("v2-systemd-service");
  const std::string svc = "sys/fs/cgroup/system.slice/soroka.service/";
  auto s = open_self(t);
  ASSERT_TRUE(s) << s.error().message;
  struct Case {
    const char* file;
    const char* text;
  };
  const Case cases[] = {
      {"memory.current", "abc\n"},
      {"memory.current", ""},
      {"memory.max", "lots\n"},
      {"memory.high", "-1\n"},
      {"memory.stat", "anon 754974720\nfile 167772160\nker"},  // truncated before inactive_file
  };
  for (const auto& c : cases) {
    const std::string good = t.read(svc + c.file);
    t.write(svc + c.file, c.text);
    auto snap = s->sample();
    ASSERT_FALSE(snap) << c.file << " = '" << c.text << "' was accepted";
    EXPECT_NE(snap.error().message.find(c.file), std::string::npos) << snap.error().message;
    t.write(svc + c.file, good);
    auto again = s->sample();
    ASSERT_TRUE(again) << "no recovery after " << c.file << ": " << again.error().message;
    EXPECT_EQ(again->limit_bytes, 2 * GiB);
  }
}

TEST(SamplerErrors, BrokenMeminfoFailsTheSample) {
  FixtureTree t;
  t.copy_scenario("v1-limited-leaf");
  auto s = open_self(t);
  ASSERT_TRUE(s) << s.error().message;
  t.write("proc/meminfo", "MemTotal:       24684092 kB\nMemFr");
  auto snap = s->sample();
  ASSERT_FALSE(snap);
  EXPECT_NE(snap.error().message.find("meminfo"), std::string::npos) << snap.error().message;
}

TEST(SamplerErrors, OpenFailsWithoutMeminfoOrLeafFiles) {
  {
    FixtureTree t;
    t.copy_scenario("v2-systemd-service");
    t.remove("proc/meminfo");
    auto s = open_self(t);
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find("meminfo"), std::string::npos);
  }
  {
    FixtureTree t;
    t.copy_scenario("v2-systemd-service");
    t.remove("sys/fs/cgroup/system.slice/soroka.service/memory.stat");
    auto s = open_self(t);
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find("memory.stat"), std::string::npos) << s.error().message;
  }
  {
    FixtureTree t;
    t.copy_scenario("v2-systemd-service");
    t.remove("proc/self/statm");
    auto s = open_self(t);
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find("statm"), std::string::npos);
  }
  {
    FixtureTree t;
    t.copy_scenario("v2-systemd-service");
    t.write("proc/self/cgroup", "garbage\n");
    auto s = open_self(t);
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find("cgroup"), std::string::npos);
  }
}

TEST(SamplerErrors, MalformedMountinfoIsAnError) {
  FixtureTree t;
  t.copy_scenario("v2-systemd-service");
  t.write("proc/self/mountinfo", "26 23 0:25 / /sys/fs/cgroup rw cgroup2\n");
  auto s = Sampler::open(t.roots_from_mountinfo(), Target{});
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("mountinfo"), std::string::npos);
}

}  // namespace
}  // namespace soroka::oomguard

// Unit tests of the pure kernel-file parsers (src/oomguard/probe): real text, then broken text.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "oomguard/probe/cgroup_files.h"
#include "oomguard/probe/cgroup_locate.h"
#include "oomguard/probe/meminfo.h"
#include "oomguard/probe/process.h"
#include "oomguard/probe/psi.h"
#include "support/fixture.h"

namespace soroka::oomguard {
namespace {

using test::fixture_text;

constexpr std::uint64_t KiB = 1024;

// /proc/meminfo of the 6.18 VM the v1 fixtures were captured on (24 GiB, no swap).
constexpr std::string_view kMeminfo618 =
    "MemTotal:       24684092 kB\n"
    "MemFree:        24170776 kB\n"
    "MemAvailable:   24358024 kB\n"
    "Buffers:            2052 kB\n"
    "Cached:           368912 kB\n"
    "SwapCached:            0 kB\n"
    "Active:           163844 kB\n"
    "Inactive:         203664 kB\n"
    "Active(anon):       1496 kB\n"
    "Inactive(anon):     3936 kB\n"
    "Active(file):     162348 kB\n"
    "Inactive(file):   199728 kB\n"
    "Unevictable:       12312 kB\n"
    "Mlocked:           11260 kB\n"
    "SwapTotal:             0 kB\n"
    "SwapFree:              0 kB\n"
    "Zswap:                 0 kB\n"
    "Zswapped:              0 kB\n"
    "Dirty:               460 kB\n"
    "Writeback:             0 kB\n"
    "AnonPages:          9016 kB\n"
    "Mapped:            10780 kB\n"
    "Shmem:              8856 kB\n"
    "KReclaimable:      65652 kB\n"
    "Slab:              87600 kB\n"
    "SReclaimable:      65652 kB\n"
    "SUnreclaim:        21948 kB\n"
    "KernelStack:        1364 kB\n"
    "PageTables:         1948 kB\n"
    "SecPageTables:         0 kB\n"
    "NFS_Unstable:          0 kB\n"
    "Bounce:                0 kB\n"
    "WritebackTmp:          0 kB\n"
    "CommitLimit:    12342044 kB\n"
    "Committed_AS:      54748 kB\n"
    "VmallocTotal:   34359738367 kB\n"
    "VmallocUsed:       14284 kB\n"
    "VmallocChunk:          0 kB\n"
    "Percpu:              712 kB\n"
    "AnonHugePages:         0 kB\n"
    "ShmemHugePages:        0 kB\n"
    "ShmemPmdMapped:        0 kB\n"
    "FileHugePages:         0 kB\n"
    "FilePmdMapped:         0 kB\n"
    "Balloon:               0 kB\n"
    "HugePages_Total:       0\n"
    "HugePages_Free:        0\n"
    "HugePages_Rsvd:        0\n"
    "HugePages_Surp:        0\n"
    "Hugepagesize:       2048 kB\n"
    "Hugetlb:               0 kB\n"
    "DirectMap4k:       30720 kB\n"
    "DirectMap2M:     2066432 kB\n"
    "DirectMap1G:    25165824 kB\n";

// ---------------------------------------------------------------- meminfo

TEST(ParseMeminfo, RealKernel618) {
  auto m = parse_meminfo(kMeminfo618);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->total_bytes, 24684092 * KiB);
  EXPECT_EQ(m->free_bytes, 24170776 * KiB);
  EXPECT_EQ(m->available_bytes, 24358024 * KiB);
  EXPECT_EQ(m->swap_total_bytes, 0u);
  EXPECT_EQ(m->swap_free_bytes, 0u);
}

TEST(ParseMeminfo, StopsOnceTheSevenKeysAreSeen) {
  // Keys in another order (a later kernel) still parse; what follows the last one is not read
  // (the hot path's parse stops at line 16 of 55 on 6.x), so garbage there does not matter.
  auto m = parse_meminfo(
      "SwapFree: 5 kB\nSwapTotal: 6 kB\nCached: 1 kB\nBuffers: 1 kB\nMemAvailable: 3 kB\n"
      "MemFree: 2 kB\nMemTotal: 4 kB\nMemTotal: garbage\n");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->total_bytes, 4 * KiB);
  EXPECT_EQ(m->available_bytes, 3 * KiB);
  EXPECT_EQ(m->swap_total_bytes, 6 * KiB);
  EXPECT_EQ(m->swap_free_bytes, 5 * KiB);
  // Until then a repeated key is still checked: one of the seven is missing.
  EXPECT_FALSE(parse_meminfo("MemTotal: 4 kB\nMemFree: 2 kB\nMemTotal: x kB\n"));
}

TEST(ParseMeminfo, CapturedFixtureFile) {
  auto m = parse_meminfo(fixture_text("v1-limited-leaf.fakeroot/proc/meminfo"));
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_GT(m->total_bytes, 0u);
  EXPECT_LE(m->available_bytes, m->total_bytes);
  EXPECT_LE(m->free_bytes, m->total_bytes);
}

TEST(ParseMeminfo, WithSwap) {
  auto m = parse_meminfo(test::meminfo_text(8'000'000, 1'000'000, 3'000'000, 2'097'148, 2'000'000));
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->swap_total_bytes, 2'097'148 * KiB);
  EXPECT_EQ(m->swap_free_bytes, 2'000'000 * KiB);
  EXPECT_EQ(m->available_bytes, 3'000'000 * KiB);
}

TEST(ParseMeminfo, BeforeMemAvailableEstimatesFromFreeAndCaches) {
  // 3.2-era layout: no MemAvailable line.
  auto m = parse_meminfo(
      "MemTotal:        2048288 kB\n"
      "MemFree:          123456 kB\n"
      "Buffers:           20000 kB\n"
      "Cached:           300000 kB\n"
      "SwapCached:            0 kB\n"
      "SwapTotal:             0 kB\n"
      "SwapFree:              0 kB\n");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->available_bytes, (123456 + 20000 + 300000) * KiB);
}

TEST(ParseMeminfo, AvailableClampedToTotal) {
  auto m = parse_meminfo("MemTotal: 1000 kB\nMemFree: 900 kB\nMemAvailable: 5000 kB\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->available_bytes, m->total_bytes);
}

TEST(ParseMeminfo, MalformedAndTruncatedAreErrors) {
  const std::string_view bad[] = {
      "",
      "\n\n",
      "MemFree:        24170776 kB\n",                               // no MemTotal
      "MemTotal:       24684092 kB\n",                               // no MemFree
      "MemTotal:       24684092 kB\nMemFree:",                       // cut after the key
      "MemTotal:       24684092 kB\nMemFree:        24x70776 kB\n",  // not a number
      "MemTotal:       -5 kB\nMemFree: 1 kB\n",
      "MemTotal:              0 kB\nMemFree:              0 kB\n",    // zero total
      "MemTotal:       99999999999999999999999 kB\nMemFree: 1 kB\n",  // overflows u64
      "\x01\x02\xff binary garbage \x7f",
  };
  for (auto text : bad) {
    auto m = parse_meminfo(text);
    EXPECT_FALSE(m) << "accepted: " << text;
    if (!m) {
      EXPECT_EQ(m.error().code, EINVAL);
      EXPECT_FALSE(m.error().message.empty());
    }
  }
}

TEST(ParseMeminfo, TruncatedAfterRequiredFieldsStillParses) {
  // A short read that kept MemTotal and MemFree: usable, available estimated.
  auto m = parse_meminfo(kMeminfo618.substr(0, kMeminfo618.find("MemAvailable")));
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->total_bytes, 24684092 * KiB);
  EXPECT_EQ(m->available_bytes, 24170776 * KiB);  // free only: Buffers/Cached were cut off
}

// ---------------------------------------------------------------- /proc/PID files

TEST(ParseStatm, CapturedFixture) {
  // Captured: "28718 27982 1678 1 0 26596 0" (python worker with 96 MiB touched).
  auto rss = parse_statm_rss(fixture_text("v1-limited-leaf.fakeroot/proc/self/statm"), 4096);
  ASSERT_TRUE(rss) << rss.error().message;
  EXPECT_EQ(*rss, 27982u * 4096);
}

TEST(ParseStatm, PageSizeIsApplied) {
  auto rss = parse_statm_rss("765 407 378 5 0 123 0\n", 65536);
  ASSERT_TRUE(rss);
  EXPECT_EQ(*rss, 407u * 65536);
}

TEST(ParseStatm, MalformedIsAnError) {
  for (std::string_view text : {"", "\n", "765", "765 ", "765 abc 378", "765 -1 0"}) {
    auto r = parse_statm_rss(text, 4096);
    EXPECT_FALSE(r) << "accepted: '" << text << "'";
  }
}

TEST(ParseProcStatus, CapturedFixture) {
  auto s = parse_proc_status(fixture_text("v1-limited-leaf.fakeroot/proc/self/status"));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_GT(s->rss_bytes, 96u << 20);  // the worker touched 96 MiB
  EXPECT_GE(s->hwm_bytes, s->rss_bytes);
  EXPECT_EQ(s->swap_bytes, 0u);
}

TEST(ParseProcStatus, RealCatProcess) {
  auto s = parse_proc_status(
      "Name:\tcat\nUmask:\t0022\nState:\tR (running)\nTgid:\t8088\nKthread:\t0\n"
      "VmPeak:\t    3060 kB\nVmSize:\t    3060 kB\nVmLck:\t       0 kB\nVmPin:\t       0 kB\n"
      "VmHWM:\t    1708 kB\nVmRSS:\t    1708 kB\nRssAnon:\t     112 kB\nRssFile:\t    1596 kB\n"
      "RssShmem:\t       0 kB\nVmData:\t     360 kB\nVmStk:\t     132 kB\nVmExe:\t      20 kB\n"
      "VmLib:\t    1528 kB\nVmPTE:\t      44 kB\nVmSwap:\t       0 kB\n"
      "HugetlbPages:\t       0 kB\nThreads:\t1\nCpus_allowed_list:\t0-1\n");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->rss_bytes, 1708 * KiB);
  EXPECT_EQ(s->hwm_bytes, 1708 * KiB);
}

TEST(ParseProcStatus, KernelThreadHasNoVmRSS) {
  auto s = parse_proc_status(
      "Name:\tkthreadd\nUmask:\t0000\nState:\tS (sleeping)\nKthread:\t1\n"
      "Threads:\t1\n");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ESRCH);
}

TEST(ParseProcStatus, MalformedNumberIsAnError) {
  auto s = parse_proc_status("Name:\tx\nVmRSS:\t  17x08 kB\n");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, EINVAL);
}

TEST(ParseSmapsRollup, CapturedFixture) {
  auto s = parse_smaps_rollup(fixture_text("v1-limited-leaf.fakeroot/proc/self/smaps_rollup"));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_GT(s->rss_bytes, 96u << 20);
  EXPECT_GT(s->anonymous_bytes, 96u << 20);
  EXPECT_LE(s->pss_bytes, s->rss_bytes);
}

TEST(ParseSmapsRollup, MissingRssOrBadNumberIsAnError) {
  EXPECT_FALSE(parse_smaps_rollup(""));
  EXPECT_FALSE(
      parse_smaps_rollup("56005c34e000-7ffc63724000 ---p 00000000 00:00 0 [rollup]\n"
                         "Pss:                 255 kB\n"));
  EXPECT_FALSE(parse_smaps_rollup("Rss:                 1x96 kB\n"));
}

TEST(ParseOomScoreAdj, RangeAndGarbage) {
  EXPECT_EQ(parse_oom_score_adj("0\n").value_or(-1), 0);
  EXPECT_EQ(parse_oom_score_adj("-1000\n").value_or(0), -1000);
  EXPECT_EQ(parse_oom_score_adj("1000").value_or(0), 1000);
  EXPECT_EQ(parse_oom_score_adj(fixture_text("v1-limited-leaf.fakeroot/proc/self/oom_score_adj"))
                .value_or(-1),
            0);
  for (std::string_view bad : {"", "1001", "-1001", "abc", "1 2", "99999999999999999999"})
    EXPECT_FALSE(parse_oom_score_adj(bad)) << "accepted: " << bad;
}

// ---------------------------------------------------------------- PSI

TEST(ParsePsi, RealIdleSystemFile) {
  auto p = parse_psi(fixture_text("v1-limited-leaf.fakeroot/proc/pressure/memory"));
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->some.avg10, 0.0);
  EXPECT_EQ(p->full.total_us, 0u);
}

TEST(ParsePsi, NonZeroValues) {
  auto p = parse_psi(
      "some avg10=0.31 avg60=0.12 avg300=0.02 total=183112\n"
      "full avg10=0.00 avg60=0.03 avg300=0.00 total=40977\n");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_DOUBLE_EQ(p->some.avg10, 0.31);
  EXPECT_DOUBLE_EQ(p->some.avg60, 0.12);
  EXPECT_DOUBLE_EQ(p->some.avg300, 0.02);
  EXPECT_EQ(p->some.total_us, 183112u);
  EXPECT_DOUBLE_EQ(p->full.avg60, 0.03);
  EXPECT_EQ(p->full.total_us, 40977u);
}

TEST(ParsePsi, SomeOnlyLeavesFullZero) {
  auto p = parse_psi("some avg10=12.50 avg60=3.00 avg300=1.00 total=99\n");
  ASSERT_TRUE(p);
  EXPECT_DOUBLE_EQ(p->some.avg10, 12.5);
  EXPECT_EQ(p->full.total_us, 0u);
}

TEST(ParsePsi, MalformedAndTruncatedAreErrors) {
  const std::string_view bad[] = {
      "",
      "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",  // no "some"
      "some avg10=0.00 avg60=",                            // cut mid-line
      "some avg10=0.00 avg60=0.00 avg300=0.00\n",          // no total
      "some avg10=x avg60=0.00 avg300=0.00 total=0\n",
      "some avg10=0.00 avg60=0.00 avg300=0.00 total=-3\n",
      "some avg10 0.00 avg60=0.00 avg300=0.00 total=0\n",  // no '='
      "cpu avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",   // unknown kind
      "\xff\xfe garbage",
  };
  for (auto text : bad) EXPECT_FALSE(parse_psi(text)) << "accepted: " << text;
}

// ---------------------------------------------------------------- cgroup limits and counters

TEST(ParseV2Limit, MaxAndBytes) {
  auto m = parse_v2_limit("max\n");
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->has_value());
  auto b = parse_v2_limit(fixture_text(
      "v2-systemd-service.fakeroot/sys/fs/cgroup/system.slice/soroka.service/memory.max"));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->value_or(0), 2147483648u);
  for (std::string_view bad : {"", "\n", "maximum", "-1", "12k", "max max"})
    EXPECT_FALSE(parse_v2_limit(bad)) << "accepted: " << bad;
}

TEST(ParseV1Limit, UnlimitedSentinelAndBytes) {
  // What a 4 KiB-page kernel prints for "no limit".
  auto u = parse_v1_limit("9223372036854771712\n");
  ASSERT_TRUE(u);
  EXPECT_FALSE(u->has_value());
  auto captured = parse_v1_limit(
      fixture_text("v1-limited-leaf.fakeroot/sys/fs/cgroup/memory/jobs/memory.limit_in_bytes"));
  ASSERT_TRUE(captured);
  EXPECT_FALSE(captured->has_value());
  auto l = parse_v1_limit(fixture_text(
      "v1-limited-leaf.fakeroot/sys/fs/cgroup/memory/jobs/soroka/memory.limit_in_bytes"));
  ASSERT_TRUE(l);
  EXPECT_EQ(l->value_or(0), 512u << 20);
  // Parsed fine and unlimited (an error is not "unlimited").
  auto unlimited = [](std::string_view text) {
    auto r = parse_v1_limit(text);
    return r.has_value() && !r->has_value();
  };
  // 64 KiB pages give a different sentinel; anything from 2^62 up is "unlimited".
  EXPECT_TRUE(unlimited("9223372036854710272\n"));
  EXPECT_TRUE(unlimited("4611686018427387904"));
  EXPECT_FALSE(unlimited("4611686018427383808"));
  EXPECT_EQ(parse_v1_limit("4611686018427383808").value_or(Limit{}).value_or(0),
            4611686018427383808u);
  EXPECT_TRUE(unlimited("-1\n"));  // unset memsw on some kernels
  for (std::string_view bad : {"", "max", "-2", "1G", "18446744073709551616"})
    EXPECT_FALSE(parse_v1_limit(bad)) << "accepted: " << bad;
}

TEST(ParseCounter, BytesAndGarbage) {
  EXPECT_EQ(parse_counter("153079808\n").value_or(0), 153079808u);
  EXPECT_EQ(parse_counter("0").value_or(1), 0u);
  for (std::string_view bad : {"", "\n", "-1", "12 34", "0x10", "99999999999999999999"})
    EXPECT_FALSE(parse_counter(bad)) << "accepted: " << bad;
}

// ---------------------------------------------------------------- memory.stat

TEST(ParseV2MemoryStat, SixDotXKeyList) {
  auto s = parse_v2_memory_stat(fixture_text(
      "v2-systemd-service.fakeroot/sys/fs/cgroup/system.slice/soroka.service/memory.stat"));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->anon, 720u << 20);
  EXPECT_EQ(s->inactive_file, 120u << 20);
  EXPECT_EQ(s->active_file, 40u << 20);
  EXPECT_FALSE(s->hierarchical_limit);
}

TEST(ParseV2MemoryStat, MissingOrBrokenIsAnError) {
  std::string full = test::v2_memory_stat_text(100, 200, 300);
  EXPECT_TRUE(parse_v2_memory_stat(full));
  // Truncated before inactive_file.
  EXPECT_FALSE(parse_v2_memory_stat(full.substr(0, full.find("inactive_file"))));
  // Cut right after the key: no value.
  EXPECT_FALSE(parse_v2_memory_stat(full.substr(0, full.find("inactive_file") + 13)));
  EXPECT_FALSE(parse_v2_memory_stat("anon 1\ninactive_file abc\n"));
  EXPECT_FALSE(parse_v2_memory_stat("anon 1\ninactive_file -4096\n"));
  EXPECT_FALSE(parse_v2_memory_stat(""));
}

TEST(ParseV1MemoryStat, CapturedLimitedLeaf) {
  auto s = parse_v1_memory_stat(
      fixture_text("v1-limited-leaf.fakeroot/sys/fs/cgroup/memory/jobs/soroka/memory.stat"));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->inactive_file, 50331648u);  // 48 MiB the worker wrote
  EXPECT_EQ(s->anon, 100667392u);          // total_rss
  ASSERT_TRUE(s->hierarchical_limit);
  EXPECT_EQ(*s->hierarchical_limit, 512u << 20);
}

TEST(ParseV1MemoryStat, HierarchicalLimitOfAnAncestorAndUnlimited) {
  auto nested = parse_v1_memory_stat(fixture_text(
      "v1-nested-ancestor.fakeroot/sys/fs/cgroup/memory/jobs/batch.slice/soroka/memory.stat"));
  ASSERT_TRUE(nested);
  ASSERT_TRUE(nested->hierarchical_limit);
  EXPECT_EQ(*nested->hierarchical_limit, 256u << 20);  // the ancestor's, not the leaf's 1 GiB
  auto top = parse_v1_memory_stat(
      fixture_text("v1-nested-ancestor.fakeroot/sys/fs/cgroup/memory/jobs/memory.stat"));
  ASSERT_TRUE(top);
  EXPECT_FALSE(top->hierarchical_limit);
}

TEST(ParseV1MemoryStat, NeedsTotalKeys) {
  // A v2 file fed to the v1 parser has no total_inactive_file.
  EXPECT_FALSE(parse_v1_memory_stat(test::v2_memory_stat_text(1, 2, 3)));
  EXPECT_FALSE(parse_v1_memory_stat("cache 1\nrss 2\ninactive_file 3\n"));
  EXPECT_FALSE(parse_v1_memory_stat("total_inactive_file\n"));
}

// ---------------------------------------------------------------- events, oom_control

TEST(ParseV2Events, SixDotXWithOomGroupKill) {
  auto e = parse_v2_memory_events("low 0\nhigh 1842\nmax 7\noom 2\noom_kill 1\noom_group_kill 0\n");
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->high, 1842u);
  EXPECT_EQ(e->max, 7u);
  EXPECT_EQ(e->oom, 2u);
  EXPECT_EQ(e->oom_kill, 1u);
}

TEST(ParseV2Events, OlderKernelWithoutOomGroupKill) {
  auto e = parse_v2_memory_events("low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->oom_kill, 0u);
}

TEST(ParseV2Events, MalformedIsAnError) {
  EXPECT_FALSE(parse_v2_memory_events(""));
  EXPECT_FALSE(parse_v2_memory_events("low 0\nhigh 0\n"));  // truncated before "max"
  EXPECT_FALSE(parse_v2_memory_events("low 0\nhigh x\nmax 0\n"));
  EXPECT_FALSE(parse_v2_memory_events("low 0\nhigh 0\nmax"));
}

TEST(ParseV1OomControl, CapturedAndOld) {
  auto o = parse_v1_oom_control(
      fixture_text("v1-limited-leaf.fakeroot/sys/fs/cgroup/memory/jobs/soroka/memory.oom_control"));
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_FALSE(o->oom_kill_disable);
  EXPECT_FALSE(o->under_oom);
  EXPECT_EQ(o->oom_kill, 0u);
  auto k = parse_v1_oom_control("oom_kill_disable 1\nunder_oom 1\noom_kill 4\n");
  ASSERT_TRUE(k);
  EXPECT_TRUE(k->oom_kill_disable);
  EXPECT_TRUE(k->under_oom);
  EXPECT_EQ(k->oom_kill, 4u);
  auto old = parse_v1_oom_control("oom_kill_disable 0\nunder_oom 0\n");  // before 4.13
  ASSERT_TRUE(old);
  EXPECT_EQ(old->oom_kill, 0u);
  EXPECT_FALSE(parse_v1_oom_control(""));
  EXPECT_FALSE(parse_v1_oom_control("under_oom 0\n"));
  EXPECT_FALSE(parse_v1_oom_control("oom_kill_disable maybe\n"));
}

// ---------------------------------------------------------------- /proc/PID/cgroup

TEST(ParseProcCgroup, HybridHostCapture) {
  auto e = parse_proc_cgroup(fixture_text("v1-limited-leaf.fakeroot/proc/self/cgroup"));
  ASSERT_TRUE(e) << e.error().message;
  ASSERT_EQ(e->size(), 10u);
  EXPECT_EQ((*e)[0].hierarchy_id, 9);
  EXPECT_EQ((*e)[0].controllers, "name=systemd");
  EXPECT_EQ((*e)[9].hierarchy_id, 0);
  EXPECT_EQ((*e)[9].controllers, "");
  EXPECT_EQ((*e)[9].path, "/");
  ProcCgroups pc = select_memory_cgroups(*e);
  EXPECT_EQ(pc.v1_memory_path.value_or(""), "/jobs/soroka");
  EXPECT_EQ(pc.v2_path.value_or(""), "/");
}

TEST(ParseProcCgroup, PureV2AndCombinedV1Controllers) {
  auto v2 = parse_proc_cgroup("0::/system.slice/soroka.service\n");
  ASSERT_TRUE(v2);
  ProcCgroups pc = select_memory_cgroups(*v2);
  EXPECT_EQ(pc.v2_path.value_or(""), "/system.slice/soroka.service");
  EXPECT_FALSE(pc.v1_memory_path);

  auto v1 = parse_proc_cgroup("5:cpu,cpuacct:/a\n4:hugetlb,memory:/docker/abc\n3:memoryx:/no\n");
  ASSERT_TRUE(v1);
  pc = select_memory_cgroups(*v1);
  EXPECT_EQ(pc.v1_memory_path.value_or(""), "/docker/abc");
  EXPECT_FALSE(pc.v2_path);
}

TEST(ParseProcCgroup, PathsWithColonsAndSpaces) {
  auto e = parse_proc_cgroup("0::/system.slice/a:b c.service\n");
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)[0].path, "/system.slice/a:b c.service");
}

TEST(ParseProcCgroup, MalformedIsAnError) {
  for (std::string_view bad :
       {"", "\n", "garbage\n", "0:/\n", "x::/\n", "0::relative\n", "0::\n", "4:memory:/a\n1:"})
    EXPECT_FALSE(parse_proc_cgroup(bad)) << "accepted: " << bad;
}

// ---------------------------------------------------------------- mountinfo

TEST(ParseMountinfo, RealHybridHost) {
  // /proc/self/mountinfo of the 6.18 capture VM (cgroup lines as the kernel printed them).
  auto m = parse_mountinfo(
      "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
      "23 27 0:22 / /sys rw,relatime - sysfs sysfs rw\n"
      "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict\n"
      "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
      "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
      "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
      "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->v1_memory.value_or(""), "/sys/fs/cgroup/memory");
  EXPECT_EQ(m->v2.value_or(""), "/sys/fs/cgroup/unified");
}

TEST(ParseMountinfo, CapturedFixtureWithPlaceholderRoot) {
  auto m = parse_mountinfo(fixture_text("v1-limited-leaf.fakeroot/proc/self/mountinfo"));
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->v1_memory.value_or(""), "@ROOT@/sys/fs/cgroup/memory");
  EXPECT_EQ(m->v2.value_or(""), "@ROOT@/sys/fs/cgroup/unified");
}

TEST(ParseMountinfo, PureV2Debian12) {
  auto m = parse_mountinfo(
      "26 23 0:25 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
      "rw,nsdelegate,memory_recursiveprot\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->v2.value_or(""), "/sys/fs/cgroup");
  EXPECT_FALSE(m->v1_memory);
}

TEST(ParseMountinfo, CombinedControllersAndEscapes) {
  auto m = parse_mountinfo(
      "35 31 0:32 / /sys/fs/cgroup/memory,hugetlb rw - cgroup cgroup rw,hugetlb,memory\n"
      "41 31 0:38 / /mnt/my\\040cgroup rw - cgroup2 none rw\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->v1_memory.value_or(""), "/sys/fs/cgroup/memory,hugetlb");
  EXPECT_EQ(m->v2.value_or(""), "/mnt/my cgroup");
}

TEST(ParseMountinfo, FirstMountWins) {
  auto m = parse_mountinfo(
      "41 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
      "90 41 0:38 /docker/abc /container/sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->v2.value_or(""), "/sys/fs/cgroup");
}

TEST(ParseMountinfo, EmptyHasNoMountsAndMalformedIsAnError) {
  auto none = parse_mountinfo("");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->v2);
  EXPECT_FALSE(none->v1_memory);
  EXPECT_FALSE(parse_mountinfo("35 31 0:32 /\n"));  // truncated
  EXPECT_FALSE(parse_mountinfo("35 31 0:32 / /sys/fs/cgroup/memory rw cgroup cgroup rw\n"));
}

}  // namespace
}  // namespace soroka::oomguard

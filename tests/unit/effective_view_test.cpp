// Unit tests of compute_effective: which constraint binds, used/available/percent, memory.high.
#include <gtest/gtest.h>

#include <vector>

#include "oomguard/levels.h"
#include "oomguard/snapshot.h"

namespace soroka::oomguard {
namespace {

constexpr std::uint64_t MiB = 1024 * 1024;
constexpr std::uint64_t GiB = 1024 * MiB;

Snapshot host(std::uint64_t total, std::uint64_t available) {
  Snapshot s;
  s.system.total_bytes = total;
  s.system.free_bytes = available / 2;
  s.system.available_bytes = available;
  return s;
}

LevelSample level(std::uint64_t working_set, Limit limit, Limit high = std::nullopt) {
  LevelSample l;
  l.usage_bytes = working_set + 64 * MiB;  // usage includes inactive file cache
  l.working_set_bytes = working_set;
  l.limit_bytes = limit;
  l.high_bytes = high;
  return l;
}

Snapshot effective(Snapshot s, const std::vector<LevelSample>& levels) {
  compute_effective(s, levels.data(), levels.size());
  return s;
}

TEST(EffectiveView, NoCgroupTheHostBinds) {
  Snapshot s = effective(host(24 * GiB, 20 * GiB), {});
  EXPECT_FALSE(s.bound_by_cgroup);
  EXPECT_EQ(s.limit_bytes, 24 * GiB);
  EXPECT_EQ(s.used_bytes, 4 * GiB);  // MemTotal - MemAvailable
  EXPECT_EQ(s.available_bytes, 20 * GiB);
  EXPECT_DOUBLE_EQ(s.used_percent, 100.0 * 4 / 24);
  EXPECT_EQ(s.high_bytes_effective, 0u);
}

TEST(EffectiveView, UnlimitedCgroupLevelsAreSkipped) {
  Snapshot s = effective(host(24 * GiB, 20 * GiB),
                         {level(700 * MiB, std::nullopt), level(1500 * MiB, std::nullopt)});
  EXPECT_FALSE(s.bound_by_cgroup);
  EXPECT_EQ(s.limit_bytes, 24 * GiB);
  EXPECT_EQ(s.available_bytes, 20 * GiB);
}

TEST(EffectiveView, LimitedLeafBinds) {
  Snapshot s = effective(host(24 * GiB, 20 * GiB), {level(780 * MiB, 2 * GiB)});
  EXPECT_TRUE(s.bound_by_cgroup);
  EXPECT_EQ(s.limit_bytes, 2 * GiB);
  EXPECT_EQ(s.used_bytes, 780 * MiB);  // the working set, not usage
  EXPECT_EQ(s.available_bytes, 2 * GiB - 780 * MiB);
  EXPECT_DOUBLE_EQ(s.used_percent, 100.0 * 780 / 2048);
}

TEST(EffectiveView, TightestHeadroomWinsNotTightestLimit) {
  // Leaf 4 GiB with 480 MiB used (3.5 GiB free); ancestor 1 GiB with 760 MiB used (264 MiB).
  Snapshot s =
      effective(host(24 * GiB, 20 * GiB), {level(480 * MiB, 4 * GiB), level(760 * MiB, 1 * GiB)});
  EXPECT_TRUE(s.bound_by_cgroup);
  EXPECT_EQ(s.limit_bytes, 1 * GiB);
  EXPECT_EQ(s.used_bytes, 760 * MiB);
  EXPECT_EQ(s.available_bytes, 264 * MiB);

  // The smaller limit is not automatically the binding one: the 1 GiB leaf has 924 MiB of
  // room, its 2 GiB ancestor (siblings included) only 148 MiB.
  Snapshot t =
      effective(host(24 * GiB, 20 * GiB), {level(100 * MiB, 1 * GiB), level(1900 * MiB, 2 * GiB)});
  EXPECT_EQ(t.limit_bytes, 2 * GiB);
  EXPECT_EQ(t.used_bytes, 1900 * MiB);
  EXPECT_EQ(t.available_bytes, 148 * MiB);
}

TEST(EffectiveView, AncestorLimitAppliesWhenLeafIsUnlimited) {
  Snapshot s = effective(host(24 * GiB, 20 * GiB),
                         {level(300 * MiB, std::nullopt), level(900 * MiB, 1 * GiB)});
  EXPECT_TRUE(s.bound_by_cgroup);
  EXPECT_EQ(s.limit_bytes, 1 * GiB);
  EXPECT_EQ(s.used_bytes, 900 * MiB);
}

TEST(EffectiveView, HostTighterThanCgroup) {
  // A 16 GiB limit on a host with 1 GiB left: the host binds.
  Snapshot s = effective(host(24 * GiB, 1 * GiB), {level(2 * GiB, 16 * GiB)});
  EXPECT_FALSE(s.bound_by_cgroup);
  EXPECT_EQ(s.limit_bytes, 24 * GiB);
  EXPECT_EQ(s.available_bytes, 1 * GiB);
}

TEST(EffectiveView, AvailableNeverAboveMemAvailable) {
  for (std::uint64_t avail : {50 * MiB, 500 * MiB, 5 * GiB}) {
    Snapshot s = effective(host(8 * GiB, avail), {level(100 * MiB, 4 * GiB)});
    EXPECT_LE(s.available_bytes, avail);
    EXPECT_LE(s.available_bytes, 4 * GiB - 100 * MiB);
  }
}

TEST(EffectiveView, LimitAboveMemTotalIsClampedToMemTotal) {
  // MemoryMax=64G on an 8 GiB host with plenty free: the cgroup binds only up to MemTotal.
  Snapshot s = effective(host(8 * GiB, 8 * GiB), {level(1 * GiB, 64 * GiB)});
  EXPECT_EQ(s.limit_bytes, 8 * GiB);
  EXPECT_LE(s.used_percent, 100.0);
}

TEST(EffectiveView, TieGoesToTheCgroup) {
  Snapshot s = effective(host(8 * GiB, 1 * GiB), {level(1 * GiB, 2 * GiB)});
  EXPECT_TRUE(s.bound_by_cgroup);
  EXPECT_EQ(s.limit_bytes, 2 * GiB);
}

TEST(EffectiveView, WorkingSetAboveLimitSaturates) {
  Snapshot s = effective(host(8 * GiB, 6 * GiB), {level(1100 * MiB, 1 * GiB)});
  EXPECT_TRUE(s.bound_by_cgroup);
  EXPECT_EQ(s.available_bytes, 0u);
  EXPECT_EQ(s.used_bytes, 1 * GiB);
  EXPECT_DOUBLE_EQ(s.used_percent, 100.0);
}

TEST(EffectiveView, ZeroMemTotalDoesNotDivideByZero) {
  Snapshot s = effective(Snapshot{}, {});
  EXPECT_EQ(s.limit_bytes, 0u);
  EXPECT_EQ(s.used_percent, 0.0);
}

TEST(EffectiveView, HighOfTheBindingLevel) {
  // MemoryMax=2G, MemoryHigh=1.5G.
  Snapshot s = effective(host(24 * GiB, 20 * GiB), {level(780 * MiB, 2 * GiB, 1536 * MiB)});
  EXPECT_EQ(s.high_bytes_effective, 1536 * MiB);
  EffectiveThresholds t = effective_thresholds(Thresholds{}, s);
  EXPECT_DOUBLE_EQ(t.warning_percent, 75.0);
  EXPECT_DOUBLE_EQ(t.critical_percent, 95.0);
}

TEST(EffectiveView, TightestHighOnThePathBelowTheLimit) {
  // The ancestor binds (1 GiB); the leaf's memory.high of 600 MiB throttles us first.
  Snapshot s = effective(host(24 * GiB, 20 * GiB),
                         {level(400 * MiB, std::nullopt, 600 * MiB), level(700 * MiB, 1 * GiB)});
  EXPECT_EQ(s.limit_bytes, 1 * GiB);
  EXPECT_EQ(s.high_bytes_effective, 600 * MiB);
}

TEST(EffectiveView, HighAboveTheWarningPointChangesNothing) {
  Snapshot s = effective(host(24 * GiB, 20 * GiB), {level(780 * MiB, 2 * GiB, 1946 * MiB)});
  EffectiveThresholds t = effective_thresholds(Thresholds{}, s);
  EXPECT_DOUBLE_EQ(t.warning_percent, 85.0);
}

TEST(EffectiveView, HighOfAnUnboundCgroupDoesNotApplyToTheHostView) {
  // MemoryHigh=1G without MemoryMax on a 24 GiB host: the host binds and `used` is the
  // whole host's. A cgroup memory.high throttles that cgroup, not the host, so it must not
  // become a warning point at 1/24 of the host (4 %), which the host's other tenants
  // (8 GiB here) would cross on their own.
  Snapshot s = effective(host(24 * GiB, 16 * GiB), {level(100 * MiB, std::nullopt, 1 * GiB)});
  EXPECT_FALSE(s.bound_by_cgroup);
  EXPECT_EQ(s.high_bytes_effective, 0u);
  EffectiveThresholds t = effective_thresholds(Thresholds{}, s);
  EXPECT_DOUBLE_EQ(t.warning_percent, 85.0);
  EXPECT_EQ(classify(t, s), Level::normal);
}

TEST(EffectiveView, SourceNames) {
  EXPECT_STREQ(to_string(Source::system), "system");
  EXPECT_STREQ(to_string(Source::cgroup_v1), "cgroup-v1");
  EXPECT_STREQ(to_string(Source::cgroup_v2), "cgroup-v2");
}

}  // namespace
}  // namespace soroka::oomguard

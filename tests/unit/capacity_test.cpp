// budget_capacity: what the scheduler may reserve, under a cgroup limit, memory.high, or the host.
#include "service/capacity.h"

#include <gtest/gtest.h>

namespace soroka::service {
namespace {

constexpr std::uint64_t MiB = 1024 * 1024;

oomguard::Snapshot cgroup_bound(std::uint64_t limit, std::uint64_t high, std::uint64_t own_rss) {
  oomguard::Snapshot s;
  s.bound_by_cgroup = true;
  s.limit_bytes = limit;
  s.high_bytes_effective = high;
  s.available_bytes = limit;
  s.process = oomguard::ProcessSample{.pid = 1, .rss_bytes = own_rss};
  return s;
}

TEST(BudgetCapacity, CgroupLimitLessOwnUseLessTheWarningMargin) {
  oomguard::Thresholds t;  // warning 85 %, min available 200 MiB
  auto s = cgroup_bound(2048 * MiB, 0, 40 * MiB);
  // margin = max(200 MiB, 15 % of 2 GiB = 307.2 MiB) + 32 MiB slack
  const auto margin = static_cast<std::uint64_t>(2048.0 * MiB * 0.15) + 32 * MiB;
  EXPECT_EQ(budget_capacity(s, t), 2048 * MiB - 40 * MiB - margin);
}

TEST(BudgetCapacity, MemoryHighBelowTheWarningPointLowersTheBudget) {
  oomguard::Thresholds t;
  // systemd MemoryMax=2G, MemoryHigh=1.5G: 75 % is the warning point, not 85 %.
  auto with_high = budget_capacity(cgroup_bound(2048 * MiB, 1536 * MiB, 40 * MiB), t);
  auto without = budget_capacity(cgroup_bound(2048 * MiB, 0, 40 * MiB), t);
  EXPECT_EQ(with_high, 1536 * MiB - 40 * MiB - 32 * MiB);
  EXPECT_LT(with_high, without);
  // A full budget plus the service stays under memory.high.
  EXPECT_LE(with_high + 40 * MiB, 1536 * MiB);
}

TEST(BudgetCapacity, MinAvailableWinsOnASmallLimit) {
  oomguard::Thresholds t;
  // 15 % of 700 MiB is 105 MiB, less than the 200 MiB floor.
  EXPECT_EQ(budget_capacity(cgroup_bound(700 * MiB, 0, 30 * MiB), t), 700 * MiB - 30 * MiB - 232 * MiB);
}

TEST(BudgetCapacity, NothingWhenTheServiceAloneFillsTheLimit) {
  oomguard::Thresholds t;
  EXPECT_EQ(budget_capacity(cgroup_bound(256 * MiB, 0, 100 * MiB), t), 0u);
}

TEST(BudgetCapacity, HostBoundPromisesOnlyWhatIsAvailableNow) {
  oomguard::Thresholds t;
  oomguard::Snapshot s;
  s.bound_by_cgroup = false;
  s.limit_bytes = 24576 * MiB;
  s.available_bytes = 4096 * MiB;
  const auto margin = static_cast<std::uint64_t>(24576.0 * MiB * 0.15) + 32 * MiB;
  EXPECT_EQ(budget_capacity(s, t), 4096 * MiB - margin);
  s.available_bytes = margin;
  EXPECT_EQ(budget_capacity(s, t), 0u);
}

}  // namespace
}  // namespace soroka::service

// Unit tests of memory levels: classification, hysteresis (no flapping), thresholds validation.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "oomguard/levels.h"

namespace soroka::oomguard {
namespace {

constexpr std::uint64_t MiB = 1024 * 1024;
constexpr std::uint64_t GiB = 1024 * MiB;

// A cgroup-bound snapshot with `limit` bytes and `percent` of it used.
Snapshot at(double percent, std::uint64_t limit = 4 * GiB, std::uint64_t high = 0) {
  Snapshot s;
  s.system.total_bytes = 24 * GiB;
  s.system.available_bytes = 20 * GiB;
  s.limit_bytes = limit;
  s.used_bytes = static_cast<std::uint64_t>(static_cast<double>(limit) * percent / 100.0);
  s.available_bytes = limit - s.used_bytes;
  s.used_percent = percent;
  s.bound_by_cgroup = true;
  s.high_bytes_effective = high;
  return s;
}

// Same, but with an explicit available (the host or a sibling can eat it independently).
Snapshot with_available(double percent, std::uint64_t available) {
  Snapshot s = at(percent);
  s.available_bytes = available;
  return s;
}

TEST(Classify, EnteringThresholds) {
  EffectiveThresholds t = effective_thresholds(Thresholds{}, at(0));
  EXPECT_EQ(classify(t, at(10)), Level::normal);
  EXPECT_EQ(classify(t, at(84.99)), Level::normal);
  EXPECT_EQ(classify(t, at(85.0)), Level::warning);
  EXPECT_EQ(classify(t, at(94.99)), Level::warning);
  EXPECT_EQ(classify(t, at(95.0)), Level::critical);
  EXPECT_EQ(classify(t, at(100.0)), Level::critical);
}

TEST(Classify, CriticalViaMinAvailableAtLowPercent) {
  // 50 % used but only 150 MiB left (a 300 MiB cgroup, or the host running dry).
  EffectiveThresholds t = effective_thresholds(Thresholds{}, at(0));
  EXPECT_EQ(classify(t, with_available(50, 150 * MiB)), Level::critical);
  EXPECT_EQ(classify(t, with_available(50, 200 * MiB)), Level::normal);  // not below
}

TEST(Classify, LevelNames) {
  EXPECT_STREQ(to_string(Level::normal), "normal");
  EXPECT_STREQ(to_string(Level::warning), "warning");
  EXPECT_STREQ(to_string(Level::critical), "critical");
}

TEST(LevelTracker, HoveringAtWarningDoesNotFlap) {
  LevelTracker tr{Thresholds{}};
  std::vector<Level> seen;
  int changes = 0;
  Level prev = tr.level();
  // Noise of +-1 point around 85 % for a while.
  for (int i = 0; i < 200; ++i) {
    double p = 85.0 + ((i % 2) ? 0.9 : -0.9) + 0.1 * std::sin(i);
    Level now = tr.update(at(p));
    if (now != prev) ++changes;
    prev = now;
  }
  EXPECT_EQ(changes, 1);  // normal -> warning once, then stays
  EXPECT_EQ(tr.level(), Level::warning);
}

TEST(LevelTracker, WarningIsLeftOnlyBelowThresholdMinusHysteresis) {
  LevelTracker tr{Thresholds{}};
  EXPECT_EQ(tr.update(at(86)), Level::warning);
  EXPECT_EQ(tr.update(at(84)), Level::warning);
  EXPECT_EQ(tr.update(at(83.01)), Level::warning);
  EXPECT_EQ(tr.update(at(83.0)), Level::warning);  // 85 - 2 is not below 83
  EXPECT_EQ(tr.update(at(82.99)), Level::normal);
  EXPECT_EQ(tr.update(at(84.9)), Level::normal);  // re-entry needs 85 again
  EXPECT_EQ(tr.update(at(85)), Level::warning);
}

TEST(LevelTracker, HoveringAtCriticalDoesNotFlap) {
  LevelTracker tr{Thresholds{}};
  int changes = 0;
  Level prev = tr.level();
  for (int i = 0; i < 100; ++i) {
    Level now = tr.update(at(i % 2 ? 94.0 : 95.5));
    if (now != prev) ++changes;
    prev = now;
  }
  EXPECT_EQ(changes, 1);
  EXPECT_EQ(tr.level(), Level::critical);
}

TEST(LevelTracker, CriticalStepsDownThroughWarning) {
  LevelTracker tr{Thresholds{}};
  EXPECT_EQ(tr.update(at(96)), Level::critical);
  EXPECT_EQ(tr.update(at(93.5)), Level::critical);  // above 95 - 2
  EXPECT_EQ(tr.update(at(92)), Level::warning);     // left critical, still >= 83
  EXPECT_EQ(tr.update(at(82)), Level::normal);
}

TEST(LevelTracker, CriticalDropsStraightToNormalWhenBothAreLeft) {
  LevelTracker tr{Thresholds{}};
  EXPECT_EQ(tr.update(at(99)), Level::critical);
  EXPECT_EQ(tr.update(at(40)), Level::normal);
}

TEST(LevelTracker, GoingUpNeedsNoMargin) {
  LevelTracker tr{Thresholds{}};
  EXPECT_EQ(tr.update(at(20)), Level::normal);
  EXPECT_EQ(tr.update(at(97)), Level::critical);  // straight past warning
}

TEST(LevelTracker, CriticalViaMinAvailableAndItsHysteresis) {
  // 4 GiB limit, 2 % hysteresis: leave only with >= 200 MiB + 81.92 MiB available.
  LevelTracker tr{Thresholds{}};
  EXPECT_EQ(tr.update(with_available(50, 150 * MiB)), Level::critical);
  EXPECT_EQ(tr.update(with_available(50, 250 * MiB)), Level::critical);  // hovering above 200
  EXPECT_EQ(tr.update(with_available(50, 190 * MiB)), Level::critical);
  EXPECT_EQ(tr.update(with_available(50, 281 * MiB)), Level::critical);
  EXPECT_EQ(tr.update(with_available(50, 282 * MiB)), Level::normal);
}

TEST(LevelTracker, MemoryHighLowersTheWarningPoint) {
  // MemoryMax=4G, MemoryHigh=2G: warning from 50 %, left below 48 %.
  LevelTracker tr{Thresholds{}};
  EXPECT_EQ(tr.update(at(49, 4 * GiB, 2 * GiB)), Level::normal);
  EXPECT_EQ(tr.update(at(60, 4 * GiB, 2 * GiB)), Level::warning);
  EXPECT_EQ(tr.update(at(48.5, 4 * GiB, 2 * GiB)), Level::warning);
  EXPECT_EQ(tr.update(at(47.9, 4 * GiB, 2 * GiB)), Level::normal);
  // Without the high the same 60 % is normal.
  LevelTracker plain{Thresholds{}};
  EXPECT_EQ(plain.update(at(60)), Level::normal);
}

TEST(LevelTracker, TinyMemoryHighStillLetsWarningBeLeft) {
  // MemoryHigh at 1 % of MemoryMax puts the warning point at 1 %, below the 2-point
  // hysteresis: leaving must stay possible once usage falls back well below it.
  LevelTracker tr{Thresholds{}};
  const std::uint64_t high = 4 * GiB / 100;
  EXPECT_EQ(tr.update(at(3, 4 * GiB, high)), Level::warning);
  EXPECT_EQ(tr.update(at(0.9, 4 * GiB, high)), Level::warning);  // hovering just below 1 %
  EXPECT_EQ(tr.update(at(0.1, 4 * GiB, high)), Level::normal);
}

TEST(EffectiveThresholds, HighBelowWarningOnly) {
  Thresholds base;
  EXPECT_DOUBLE_EQ(effective_thresholds(base, at(10, 4 * GiB, 3 * GiB)).warning_percent, 75.0);
  EXPECT_DOUBLE_EQ(effective_thresholds(base, at(10, 4 * GiB, 4 * GiB)).warning_percent, 85.0);
  EXPECT_DOUBLE_EQ(effective_thresholds(base, at(10, 4 * GiB, 0)).warning_percent, 85.0);
  EffectiveThresholds e = effective_thresholds(base, at(10, 4 * GiB, 1 * GiB));
  EXPECT_DOUBLE_EQ(e.warning_percent, 25.0);
  EXPECT_DOUBLE_EQ(e.critical_percent, base.critical_percent);
  EXPECT_EQ(e.min_available_bytes, base.min_available_bytes);
  EXPECT_DOUBLE_EQ(e.hysteresis_percent, base.hysteresis_percent);
}

TEST(LevelTracker, SetThresholdsTakesEffectOnNextUpdate) {
  LevelTracker tr{Thresholds{}};
  EXPECT_EQ(tr.update(at(75)), Level::normal);
  Thresholds lower;
  lower.warning_percent = 70;
  tr.set_thresholds(lower);
  EXPECT_DOUBLE_EQ(tr.thresholds().warning_percent, 70.0);
  EXPECT_EQ(tr.update(at(75)), Level::warning);
}

TEST(ThresholdsValidate, DefaultsAreValid) {
  EXPECT_TRUE(Thresholds{}.validate());
}

TEST(ThresholdsValidate, ErrorsNameFieldAndValue) {
  struct Case {
    Thresholds t;
    const char* field;
    const char* value;
  };
  auto make = [](double w, double c, double h) {
    Thresholds t;
    t.warning_percent = w;
    t.critical_percent = c;
    t.hysteresis_percent = h;
    return t;
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Case cases[] = {
      {make(0, 95, 2), "warning_percent", "0"},
      {make(100, 95, 2), "warning_percent", "100"},
      {make(-5, 95, 2), "warning_percent", "-5"},
      {make(nan, 95, 2), "warning_percent", "nan"},
      {make(85, 101, 2), "critical_percent", "101"},
      {make(85, 0, 2), "critical_percent", "0"},
      {make(90, 90, 2), "critical_percent", "90"},
      {make(90, 80, 2), "critical_percent", "80"},
      {make(85, 95, -1), "hysteresis_percent", "-1"},
      {make(10, 95, 10), "hysteresis_percent", "10"},
  };
  for (const auto& c : cases) {
    auto r = c.t.validate();
    ASSERT_FALSE(r) << c.field << " = " << c.value << " was accepted";
    EXPECT_EQ(r.error().code, EINVAL);
    EXPECT_NE(r.error().message.find(c.field), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(c.value), std::string::npos) << r.error().message;
  }
}

TEST(ThresholdsValidate, CriticalAtExactly100IsAllowed) {
  Thresholds t;
  t.critical_percent = 100;
  EXPECT_TRUE(t.validate());
}

}  // namespace
}  // namespace soroka::oomguard

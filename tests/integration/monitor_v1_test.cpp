// Integration: the monitor on a real cgroup v1 whose memory climbs, falls and is cleaned up.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <vector>

#include "oomguard/monitor.h"
#include "support/cgroup_v1.h"

namespace soroka::oomguard {
namespace {

using namespace std::chrono_literals;
using test::Hog;
using test::V1Cgroup;

struct Recorder {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<Level, Level>> changes;

  void add(const LevelChange& c) {
    std::lock_guard lk(mu);
    changes.emplace_back(c.from, c.to);
    cv.notify_all();
  }
  // Waits for a change to `l` after the last one waited for, looking through every change.
  bool wait_for_level(Level l, std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, timeout, [&] {
      for (; seen < changes.size(); ++seen) {
        if (changes[seen].second == l) {
          ++seen;
          return true;
        }
      }
      return false;
    });
  }
  std::size_t seen = 0;
  std::vector<std::pair<Level, Level>> snapshot() {
    std::lock_guard lk(mu);
    return changes;
  }
};

MonitorParams params_for_test() {
  MonitorParams p;
  p.thresholds.warning_percent = 50;
  p.thresholds.critical_percent = 80;
  p.thresholds.min_available_bytes = 16 * kMiB;
  p.thresholds.hysteresis_percent = 2;
  // Polling slow enough that a prompt reaction proves the eventfd path works.
  p.poll_interval = 2000ms;
  p.fast_poll_interval = 100ms;
  return p;
}

class MonitorV1 : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    cg_ = V1Cgroup::create(256 * kMiB, &why);
    if (!cg_) GTEST_SKIP() << "cgroup v1 memory not usable here: " << why;
  }
  std::optional<V1Cgroup> cg_;
};

TEST_F(MonitorV1, ClimbFiresWarningThenCriticalAndCleanupBringsItBack) {
  auto hog = Hog::spawn(cg_->dir());
  ASSERT_TRUE(hog) << "could not start soroka-memhog in " << cg_->dir();
  auto sampler = Sampler::open(Roots{}, Target{.pid = 0, .cgroup = cg_->path()});
  ASSERT_TRUE(sampler) << sampler.error().message;
  EXPECT_EQ(sampler->info().source, Source::cgroup_v1);

  auto mon = Monitor::start(std::move(*sampler), params_for_test());
  ASSERT_TRUE(mon) << mon.error().message;
  Monitor& m = **mon;
  EXPECT_EQ(m.level(), Level::normal);
  bool v1_active = false;
  for (const auto& s : m.sources())
    if (s.name == "cgroup-v1-threshold") v1_active = s.active;
  EXPECT_TRUE(v1_active) << "eventfd thresholds should arm on cgroup v1 as root";

  Recorder rec;
  m.add_listener([&](const LevelChange& c) { rec.add(c); });
  std::atomic<int> cleanups{0};
  Hog* h = &*hog;
  m.add_cleanup({"free-the-hog", 10, [] { return std::uint64_t{200} * kMiB; }, [&] {
                   ++cleanups;
                   auto r = h->command("free");
                   return r && *r == "ok 0" ? std::uint64_t{200} * kMiB : 0;
                 }});
  // A listener that throws must not stop anything.
  m.add_listener([](const LevelChange&) { throw std::runtime_error("listener failure"); });

  // Climb in steps: 100 MiB (39 %), then to 150 MiB (59 %: warning) and 215 MiB (84 %: critical).
  ASSERT_EQ(h->command("alloc 100"), "ok 100");
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(m.level(), Level::normal);
  ASSERT_EQ(h->command("alloc 50"), "ok 150");
  EXPECT_TRUE(rec.wait_for_level(Level::warning, 3s)) << "no warning after 150 of 256 MiB";
  ASSERT_EQ(h->command("alloc 65"), "ok 215");
  // Critical fires, the cleanup handler frees the hog, and memory returns to normal.
  EXPECT_TRUE(rec.wait_for_level(Level::normal, 10s)) << "never recovered";
  auto changes = rec.snapshot();
  ASSERT_GE(changes.size(), 3u);
  EXPECT_EQ(changes[0], std::make_pair(Level::normal, Level::warning));
  EXPECT_EQ(changes[1], std::make_pair(Level::warning, Level::critical));
  EXPECT_EQ(changes.back().second, Level::normal);
  EXPECT_GE(cleanups.load(), 1);
  EXPECT_LT(cg_->usage(), 100 * kMiB) << "memory should have fallen after cleanup";
  EXPECT_GT(m.event_wakeups(), 0u) << "the eventfd thresholds never woke the monitor";
}

TEST_F(MonitorV1, SlowListenerDoesNotStopSampling) {
  auto hog = Hog::spawn(cg_->dir());
  ASSERT_TRUE(hog);
  auto sampler = Sampler::open(Roots{}, Target{.pid = 0, .cgroup = cg_->path()});
  ASSERT_TRUE(sampler) << sampler.error().message;
  MonitorParams p = params_for_test();
  p.poll_interval = 50ms;
  p.fast_poll_interval = 50ms;
  auto mon = Monitor::start(std::move(*sampler), p);
  ASSERT_TRUE(mon);
  Monitor& m = **mon;
  std::atomic<bool> in_listener{false};
  m.add_listener([&](const LevelChange&) {
    in_listener = true;
    std::this_thread::sleep_for(1500ms);
  });
  ASSERT_EQ(hog->command("alloc 150"), "ok 150");
  for (int i = 0; i < 100 && !in_listener; ++i) std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(in_listener) << "listener never called";
  std::uint64_t before = m.samples();
  std::this_thread::sleep_for(500ms);
  // At 50 ms the monitor takes ~10 samples in 500 ms while the listener sleeps.
  EXPECT_GE(m.samples() - before, 5u);
  EXPECT_EQ(m.level(), Level::warning);
  // The level keeps tracking while the listener is still busy.
  ASSERT_EQ(hog->command("free"), "ok 0");
  for (int i = 0; i < 50 && m.level() != Level::normal; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(m.level(), Level::normal);
}

}  // namespace
}  // namespace soroka::oomguard

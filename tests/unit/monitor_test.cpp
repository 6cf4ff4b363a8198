// Monitor on fixture trees: polling fallback, v2 memory.events wake-ups, malformed files,
// listener failures and cleanup order — the paths a machine without kernel events takes.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "oomguard/monitor.h"
#include "support/fixture.h"

namespace soroka::oomguard {
namespace {

using namespace std::chrono_literals;
using test::FixtureTree;
using test::V2Group;

constexpr std::uint64_t kLimit = 1024 * kMiB;
const char* kLeaf = "/system.slice/soroka.service";

// A v2 host whose service has a 1 GiB limit; the test moves memory.current around.
struct V2Host {
  FixtureTree tree;
  std::string dir;
  V2Host() {
    tree.write_meminfo(24 * 1024 * 1024, 20 * 1024 * 1024, 22 * 1024 * 1024);
    V2Group g;
    g.current = 300 * kMiB;
    g.max = kLimit;
    g.anon = 300 * kMiB;
    dir = tree.make_v2_cgroup(kLeaf, g);
    tree.write("sys/fs/cgroup/cgroup.controllers", "cpu io memory pids\n");
    test::FakeProcess p;
    p.cgroup = std::string("0::") + kLeaf + "\n";
    tree.write_process("self", p);
  }
  void set_current(std::uint64_t bytes) const {
    tree.write(std::string("sys/fs/cgroup") + kLeaf + "/memory.current",
               std::to_string(bytes) + "\n");
  }
  Result<Sampler> sampler() const { return Sampler::open(tree.roots(), Target{}); }
};

struct Changes {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Level> to;
  void add(const LevelChange& c) {
    std::lock_guard lk(mu);
    to.push_back(c.to);
    cv.notify_all();
  }
  // Waits for a change to `l` after the last one waited for (changes may come faster than
  // the test thread wakes up, so look through all of them, in order).
  bool wait(Level l, std::chrono::milliseconds t) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, t, [&] {
      for (; seen < to.size(); ++seen) {
        if (to[seen] == l) {
          ++seen;
          return true;
        }
      }
      return false;
    });
  }
  std::size_t seen = 0;
};

MonitorParams fast_params() {
  MonitorParams p;
  p.poll_interval = 50ms;
  p.fast_poll_interval = 20ms;
  p.thresholds.min_available_bytes = 50 * kMiB;
  return p;
}

// Starts a monitor on the host's service; polling only unless `events`.
std::unique_ptr<Monitor> start(const V2Host& h, MonitorParams p, bool events = false) {
  auto s = h.sampler();
  EXPECT_TRUE(s) << s.error().message;
  if (!s) return nullptr;
  p.use_v2_events = events;
  auto m = Monitor::start(std::move(*s), p);
  EXPECT_TRUE(m) << m.error().message;
  return m ? std::move(*m) : nullptr;
}

const EventSourceStatus* find(const std::vector<EventSourceStatus>& v, const std::string& n) {
  for (const auto& s : v)
    if (s.name == n) return &s;
  return nullptr;
}

TEST(MonitorFixture, PollingFallbackTracksLevelsWhenNoKernelEvents) {
  V2Host h;
  auto m = start(h, fast_params());
  ASSERT_TRUE(m);
  Changes ch;
  m->add_listener([&](const LevelChange& c) { ch.add(c); });
  EXPECT_EQ(m->level(), Level::normal);
  // PSI triggers cannot be armed on a fixture file; the refusal is reported, polling covers.
  auto sources = m->sources();
  const auto* psi = find(sources, "psi-trigger");
  ASSERT_NE(psi, nullptr);
  EXPECT_FALSE(psi->active);
  EXPECT_NE(psi->detail.find("polling covers"), std::string::npos) << psi->detail;
  ASSERT_NE(find(sources, "poll"), nullptr);
  EXPECT_TRUE(find(sources, "poll")->active);

  h.set_current(880 * kMiB);  // 85.9 %
  EXPECT_TRUE(ch.wait(Level::warning, 2s));
  h.set_current(990 * kMiB);  // 96.7 %
  EXPECT_TRUE(ch.wait(Level::critical, 2s));
  h.set_current(400 * kMiB);
  EXPECT_TRUE(ch.wait(Level::normal, 2s));
  EXPECT_EQ(m->event_wakeups(), 0u);
}

TEST(MonitorFixture, HoveringAtTheThresholdDoesNotFlap) {
  V2Host h;
  auto m = start(h, fast_params());
  ASSERT_TRUE(m);
  std::atomic<int> changes{0};
  m->add_listener([&](const LevelChange&) { ++changes; });
  // Oscillate between 84.5 % and 85.5 % (hysteresis is 2 points): one change, not twenty.
  for (int i = 0; i < 20; ++i) {
    h.set_current(static_cast<std::uint64_t>(static_cast<double>(kLimit) * (i % 2 ? 0.845 : 0.855)));
    std::this_thread::sleep_for(30ms);
  }
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(changes.load(), 1);
  EXPECT_EQ(m->level(), Level::warning);
}

TEST(MonitorFixture, V2MemoryEventsWakeTheMonitor) {
  V2Host h;
  MonitorParams p = fast_params();
  p.poll_interval = 5000ms;  // so that only the inotify event can explain a prompt sample
  p.fast_poll_interval = 100ms;
  auto m = start(h, p, /*events=*/true);
  ASSERT_TRUE(m);
  const auto sources = m->sources();  // by value: `ev` points into it
  const auto* ev = find(sources, "cgroup-v2-events");
  ASSERT_NE(ev, nullptr);
  EXPECT_TRUE(ev->active) << ev->detail;
  Changes ch;
  m->add_listener([&](const LevelChange& c) { ch.add(c); });
  std::this_thread::sleep_for(50ms);
  h.set_current(900 * kMiB);
  h.tree.write(std::string("sys/fs/cgroup") + kLeaf + "/memory.events",
               test::v2_events_text(1, 0, 0));
  EXPECT_TRUE(ch.wait(Level::warning, 1s)) << "memory.events change did not wake the monitor";
  EXPECT_GE(m->event_wakeups(), 1u);
}

TEST(MonitorFixture, MalformedFilesAreErrorsNotCrashes) {
  V2Host h;
  auto m = start(h, fast_params());
  ASSERT_TRUE(m);
  std::uint64_t before = m->samples();
  for (const char* bad : {"", "garbage\n", "12abc\n", "-5\n", "99999999999999999999999\n"}) {
    h.set_current(0);
    h.tree.write(std::string("sys/fs/cgroup") + kLeaf + "/memory.current", bad);
    std::this_thread::sleep_for(60ms);
  }
  h.tree.write(std::string("sys/fs/cgroup") + kLeaf + "/memory.stat", "inactive_file\n");
  std::this_thread::sleep_for(60ms);
  // Failed samples are not counted; the monitor keeps going and recovers when files heal.
  EXPECT_EQ(m->level(), Level::normal);
  h.tree.write(std::string("sys/fs/cgroup") + kLeaf + "/memory.stat",
               test::v2_memory_stat_text(900 * kMiB, 0, 0));
  h.set_current(900 * kMiB);
  for (int i = 0; i < 100 && m->level() != Level::warning; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(m->level(), Level::warning);
  EXPECT_GT(m->samples(), before);
}

TEST(MonitorFixture, ThrowingListenerDoesNotStopOthers) {
  V2Host h;
  auto m = start(h, fast_params());
  ASSERT_TRUE(m);
  Changes ch;
  m->add_listener([](const LevelChange&) { throw std::runtime_error("boom"); });
  m->add_listener([](const LevelChange&) { throw 42; });
  m->add_listener([&](const LevelChange& c) { ch.add(c); });
  h.set_current(900 * kMiB);
  EXPECT_TRUE(ch.wait(Level::warning, 2s));
  h.set_current(100 * kMiB);
  EXPECT_TRUE(ch.wait(Level::normal, 2s));
}

TEST(MonitorFixture, CleanupRunsByPriorityUntilBackUnderCritical) {
  V2Host h;
  auto m = start(h, fast_params());
  ASSERT_TRUE(m);
  std::mutex mu;
  std::vector<std::string> ran;
  auto handler = [&](std::string name, int prio, std::uint64_t to_bytes) {
    return CleanupHandler{name, prio, [] { return 100 * kMiB; }, [&, name, to_bytes] {
                            std::lock_guard lk(mu);
                            ran.push_back(name);
                            if (to_bytes) h.set_current(to_bytes);
                            return 100 * kMiB;
                          }};
  };
  // Registered out of order; "caches" (priority 1) must run first, and since it brings
  // memory back to 80 %, "models" (2) and "jobs" (3) must not run at all.
  m->add_cleanup(handler("jobs", 3, 0));
  m->add_cleanup(handler("caches", 1, 820 * kMiB));
  m->add_cleanup(handler("models", 2, 0));
  Changes ch;
  m->add_listener([&](const LevelChange& c) { ch.add(c); });
  h.set_current(1000 * kMiB);
  EXPECT_TRUE(ch.wait(Level::critical, 2s));
  EXPECT_TRUE(ch.wait(Level::normal, 2s));
  std::lock_guard lk(mu);
  ASSERT_FALSE(ran.empty());
  EXPECT_EQ(ran.front(), "caches");
  EXPECT_EQ(std::count(ran.begin(), ran.end(), "jobs"), 0);
  EXPECT_EQ(std::count(ran.begin(), ran.end(), "models"), 0);
}

TEST(MonitorFixture, CleanupGoesDownThePriorityListWhileStillCritical) {
  V2Host h;
  auto m = start(h, fast_params());
  ASSERT_TRUE(m);
  std::mutex mu;
  std::vector<std::string> ran;
  m->add_cleanup({"small", 1, {}, [&] {
                       std::lock_guard lk(mu);
                       ran.push_back("small");
                       return std::uint64_t{0};  // frees nothing: still critical
                     }});
  m->add_cleanup({"throws", 2, {}, [&]() -> std::uint64_t {
                       {
                         std::lock_guard lk(mu);
                         ran.push_back("throws");
                       }
                       throw std::runtime_error("cleanup failed");
                     }});
  m->add_cleanup({"big", 3, {}, [&] {
                       std::lock_guard lk(mu);
                       ran.push_back("big");
                       h.set_current(200 * kMiB);
                       return 800 * kMiB;
                     }});
  Changes ch;
  m->add_listener([&](const LevelChange& c) { ch.add(c); });
  h.set_current(1000 * kMiB);
  EXPECT_TRUE(ch.wait(Level::critical, 2s));
  EXPECT_TRUE(ch.wait(Level::normal, 2s));
  std::lock_guard lk(mu);
  EXPECT_EQ(ran, (std::vector<std::string>{"small", "throws", "big"}));
}

TEST(MonitorFixture, CriticalByMinAvailableAlone) {
  V2Host h;
  MonitorParams p = fast_params();
  p.thresholds.min_available_bytes = 200 * kMiB;
  p.thresholds.warning_percent = 90;
  p.thresholds.critical_percent = 99;
  auto m = start(h, p);
  ASSERT_TRUE(m);
  Changes ch;
  m->add_listener([&](const LevelChange& c) { ch.add(c); });
  h.set_current(kLimit - 150 * kMiB);  // 85 %: below warning, but under 200 MiB available
  EXPECT_TRUE(ch.wait(Level::critical, 2s));
}

}  // namespace
}  // namespace soroka::oomguard

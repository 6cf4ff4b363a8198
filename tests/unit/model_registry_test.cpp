// Tests for ModelRegistry: load once, LRU eviction of idle models only, refusals, TTL, sizes.
#include "oomguard/model_registry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace soroka::oomguard {
namespace {

using namespace std::chrono_literals;
constexpr std::uint64_t MiB = 1024 * 1024;

// A time source the test moves by hand; readable from any thread.
class FakeClock {
 public:
  std::chrono::steady_clock::time_point now() const {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns_.load()));
  }
  void advance(std::chrono::nanoseconds d) { ns_ += d.count(); }
  ModelRegistry::Clock fn() {
    return [this] { return now(); };
  }

 private:
  std::atomic<std::int64_t> ns_{std::chrono::nanoseconds(1h).count()};
};

// Records which models were destroyed, in order, to see what eviction really freed.
struct UnloadLog {
  std::mutex mu;
  std::vector<std::string> names;
  void add(const std::string& n) {
    std::lock_guard lock(mu);
    names.push_back(n);
  }
  std::vector<std::string> get() {
    std::lock_guard lock(mu);
    return names;
  }
};

struct Model {
  Model(std::string n, UnloadLog* l) : name(std::move(n)), log(l) {}
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  ~Model() {
    if (log != nullptr) log->add(name);
  }
  std::string name;
  UnloadLog* log;
};

// A loader that counts its calls and builds a Model.
struct CountingLoader {
  std::atomic<int> calls{0};
  UnloadLog* log = nullptr;
  ModelLoader make(const std::string& name, std::optional<std::uint64_t> measured = std::nullopt) {
    return [this, name, measured]() -> Result<LoadedModel> {
      ++calls;
      return LoadedModel{std::make_shared<Model>(name, log), measured};
    };
  }
};

// Blocks loaders until opened, so several acquire() calls meet while a load is running.
class Gate {
 public:
  void open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Opens a gate when the test leaves, even through a failed ASSERT, so that threads blocked
// in a loader can be joined instead of hanging the test binary.
struct OpenOnExit {
  Gate& gate;
  ~OpenOnExit() { gate.open(); }
};

template <class F>
bool eventually(F cond, std::chrono::milliseconds limit = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

std::vector<std::string> names(const ModelRegistry& reg) {
  std::vector<std::string> out;
  for (const auto& m : reg.list()) out.push_back(m.name);
  std::sort(out.begin(), out.end());
  return out;
}

class ModelRegistryTest : public ::testing::Test {
 protected:
  ModelRegistryTest() { loader.log = &log; }
  ModelRegistry make(std::chrono::milliseconds ttl = 60s) {
    return ModelRegistry(budget, ModelRegistry::Params{ttl}, clock.fn());
  }
  // Loads `name` and drops the lease at once, leaving it idle since the fake clock's now.
  void load_idle(ModelRegistry& reg, const std::string& name, std::uint64_t bytes) {
    auto lease = reg.acquire<Model>(name, bytes, loader.make(name));
    ASSERT_TRUE(lease.has_value()) << lease.error().message;
  }

  MemoryBudget budget{300 * MiB};
  FakeClock clock;
  UnloadLog log;
  CountingLoader loader;
};

TEST_F(ModelRegistryTest, LoadsOnceAndReservesTheEstimate) {
  auto reg = make();
  auto a = reg.acquire<Model>("tiny", 100 * MiB, loader.make("tiny"));
  ASSERT_TRUE(a.has_value()) << a.error().message;
  EXPECT_EQ((*a)->name, "tiny");
  EXPECT_EQ(budget.reserved(), 100 * MiB);
  ASSERT_EQ(budget.list().size(), 1u);
  EXPECT_EQ(budget.list()[0].label, "model tiny");

  auto again = reg.acquire<Model>("tiny", 100 * MiB, loader.make("tiny"));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->get(), a->get());  // the same object, not a second copy
  EXPECT_EQ(loader.calls.load(), 1);
  EXPECT_EQ(budget.reserved(), 100 * MiB);
  const auto info = reg.list();
  ASSERT_EQ(info.size(), 1u);
  EXPECT_EQ(info[0].users, 2u);
  EXPECT_EQ(info[0].bytes, 100 * MiB);
  EXPECT_EQ(info[0].idle_for, std::chrono::steady_clock::duration::zero());
}

TEST_F(ModelRegistryTest, ConcurrentAcquireOfOneModelLoadsItOnce) {
  auto reg = make();
  Gate gate;
  std::atomic<int> calls{0};
  std::atomic<int> started{0};
  ModelLoader slow = [&]() -> Result<LoadedModel> {
    ++calls;
    gate.wait();
    return LoadedModel{std::make_shared<Model>("base", nullptr), std::nullopt};
  };
  constexpr int kThreads = 8;
  std::vector<ModelLease<Model>> leases(kThreads);
  std::vector<std::jthread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      ++started;
      auto r = reg.acquire<Model>("base", 100 * MiB, slow);
      if (r) leases[static_cast<std::size_t>(i)] = std::move(*r);
    });
  }
  OpenOnExit open_on_exit{gate};
  ASSERT_TRUE(eventually([&] { return started == kThreads && calls == 1; }));
  std::this_thread::sleep_for(50ms);  // let every thread reach acquire() and wait there
  gate.open();
  for (auto& t : threads) t.join();

  EXPECT_EQ(calls.load(), 1);
  for (const auto& l : leases) {
    ASSERT_TRUE(l);
    EXPECT_EQ(l.get(), leases[0].get());
  }
  EXPECT_EQ(budget.reserved(), 100 * MiB);
  ASSERT_EQ(reg.list().size(), 1u);
  EXPECT_EQ(reg.list()[0].users, static_cast<std::size_t>(kThreads));
}

TEST_F(ModelRegistryTest, LoadRunsOutsideTheRegistryLock) {
  auto reg = make();
  Gate gate;
  std::atomic<bool> in_loader{false};
  ModelLoader slow = [&]() -> Result<LoadedModel> {
    in_loader = true;
    gate.wait();
    return LoadedModel{std::make_shared<Model>("slow", nullptr), std::nullopt};
  };
  std::jthread t([&] { EXPECT_TRUE(reg.acquire<Model>("slow", 100 * MiB, slow).has_value()); });
  OpenOnExit open_on_exit{gate};
  ASSERT_TRUE(eventually([&] { return in_loader.load(); }));
  // While "slow" loads, the registry answers and loads another model.
  auto other = reg.acquire<Model>("fast", 50 * MiB, loader.make("fast"));
  EXPECT_TRUE(other.has_value());
  EXPECT_EQ(names(reg), std::vector<std::string>{"fast"});  // a loading model is not listed
  EXPECT_EQ(reg.idle_bytes(), 0u);                          // nor idle
  EXPECT_EQ(reg.unload_idle(), 0u);                         // nor unloadable
  gate.open();
  t.join();
  EXPECT_EQ(names(reg), (std::vector<std::string>{"fast", "slow"}));
}

TEST_F(ModelRegistryTest, EvictsIdleModelsLeastRecentlyUsedFirst) {
  auto reg = make();
  load_idle(reg, "a", 100 * MiB);
  clock.advance(1s);
  load_idle(reg, "b", 100 * MiB);
  clock.advance(1s);
  load_idle(reg, "c", 100 * MiB);
  clock.advance(1s);
  load_idle(reg, "a", 100 * MiB);  // "a" used again: now "b" is the least recent
  clock.advance(1s);
  EXPECT_EQ(budget.available(), 0u);

  load_idle(reg, "d", 100 * MiB);  // needs one model's room: evicts "b" only
  EXPECT_EQ(log.get(), std::vector<std::string>{"b"});
  EXPECT_EQ(names(reg), (std::vector<std::string>{"a", "c", "d"}));
  clock.advance(1s);

  load_idle(reg, "e", 200 * MiB);  // needs two: "c" then "a"; "d" (newest) stays
  EXPECT_EQ(log.get(), (std::vector<std::string>{"b", "c", "a"}));
  EXPECT_EQ(names(reg), (std::vector<std::string>{"d", "e"}));
  EXPECT_EQ(budget.reserved(), 300 * MiB);
}

TEST_F(ModelRegistryTest, NeverEvictsModelsInUseAndRefusesWithSizes) {
  auto reg = make();
  auto busy = reg.acquire<Model>("busy", 100 * MiB, loader.make("busy"));
  ASSERT_TRUE(busy.has_value());
  load_idle(reg, "idle", 100 * MiB);
  auto job = budget.try_reserve(50 * MiB, "job");  // a transcription job, not a model
  ASSERT_TRUE(job.has_value());

  // 50 free + 100 idle < 200: nothing can make room, so nothing is evicted for nothing.
  auto r = reg.acquire<Model>("big", 200 * MiB, loader.make("big"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ENOMEM);
  const std::string& m = r.error().message;
  EXPECT_NE(m.find("model 'big'"), std::string::npos) << m;
  EXPECT_NE(m.find("needs 200.0 MiB"), std::string::npos) << m;
  EXPECT_NE(m.find("50.0 MiB free"), std::string::npos) << m;
  EXPECT_NE(m.find("250.0 MiB in use"), std::string::npos) << m;
  EXPECT_NE(m.find("100.0 MiB of it by idle models"), std::string::npos) << m;
  EXPECT_TRUE(log.get().empty());
  EXPECT_EQ(names(reg), (std::vector<std::string>{"busy", "idle"}));
  EXPECT_EQ(loader.calls.load(), 2);  // "big"'s loader never ran

  // 50 free + 100 idle >= 150: evicts the idle one, never the busy one.
  auto fits = reg.acquire<Model>("mid", 150 * MiB, loader.make("mid"));
  ASSERT_TRUE(fits.has_value()) << fits.error().message;
  EXPECT_EQ(log.get(), std::vector<std::string>{"idle"});
  EXPECT_EQ((*busy)->name, "busy");
  EXPECT_EQ(names(reg), (std::vector<std::string>{"busy", "mid"}));
}

TEST_F(ModelRegistryTest, RefusesModelLargerThanTheBudget) {
  auto reg = make();
  load_idle(reg, "small", 100 * MiB);
  auto r = reg.acquire<Model>("huge", 400 * MiB, loader.make("huge"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ENOMEM);
  EXPECT_NE(r.error().message.find("needs 400.0 MiB, capacity is 300.0 MiB"), std::string::npos)
      << r.error().message;
  EXPECT_TRUE(log.get().empty());  // the idle model was not sacrificed in vain
  EXPECT_TRUE(reg.list().size() == 1u);
}

TEST_F(ModelRegistryTest, UnloadExpiredAfterIdleTtl) {
  auto reg = make(60s);
  load_idle(reg, "old", 100 * MiB);
  auto held = reg.acquire<Model>("held", 100 * MiB, loader.make("held"));
  ASSERT_TRUE(held.has_value());

  clock.advance(60s);
  EXPECT_EQ(reg.unload_expired(), 0u);  // idle exactly the TTL, not longer
  clock.advance(1s);
  const auto info = reg.list();
  ASSERT_EQ(info.size(), 2u);
  for (const auto& m : info) {
    if (m.name == "old") {
      EXPECT_EQ(m.idle_for, std::chrono::steady_clock::duration(61s));
    } else {
      EXPECT_EQ(m.name, "held");
      EXPECT_EQ(m.idle_for, std::chrono::steady_clock::duration::zero());
    }
  }
  EXPECT_EQ(reg.unload_expired(), 100 * MiB);
  EXPECT_EQ(log.get(), std::vector<std::string>{"old"});
  EXPECT_EQ(names(reg), std::vector<std::string>{"held"});  // in use for 61 s: kept
  EXPECT_EQ(budget.reserved(), 100 * MiB);

  // Idle time counts from when the last lease went away.
  held = ModelLease<Model>{};
  clock.advance(30s);
  EXPECT_EQ(reg.unload_expired(), 0u);
  clock.advance(31s);
  EXPECT_EQ(reg.unload_expired(), 100 * MiB);
  EXPECT_TRUE(reg.list().empty());
  EXPECT_EQ(budget.reserved(), 0u);
}

TEST_F(ModelRegistryTest, UnloadIdleFreesOnlyIdleModels) {
  auto reg = make();
  load_idle(reg, "idle1", 100 * MiB);
  load_idle(reg, "idle2", 50 * MiB);
  auto busy = reg.acquire<Model>("busy", 100 * MiB, loader.make("busy"));
  ASSERT_TRUE(busy.has_value());

  EXPECT_EQ(reg.idle_bytes(), 150 * MiB);
  EXPECT_EQ(reg.unload_idle(), 150 * MiB);
  EXPECT_EQ(reg.idle_bytes(), 0u);
  EXPECT_EQ(names(reg), std::vector<std::string>{"busy"});
  EXPECT_EQ(budget.reserved(), 100 * MiB);
  EXPECT_EQ(reg.unload_idle(), 0u);

  busy = ModelLease<Model>{};
  EXPECT_EQ(reg.idle_bytes(), 100 * MiB);
}

TEST_F(ModelRegistryTest, MeasuredSizeReplacesTheEstimate) {
  auto reg = make();
  auto smaller = reg.acquire<Model>("s", 100 * MiB, loader.make("s", 60 * MiB));
  ASSERT_TRUE(smaller.has_value());
  EXPECT_EQ(budget.reserved(), 60 * MiB);
  EXPECT_EQ(reg.list()[0].bytes, 60 * MiB);

  // Measured larger than the room left: recorded anyway, the budget over-commits.
  auto larger = reg.acquire<Model>("l", 200 * MiB, loader.make("l", 290 * MiB));
  ASSERT_TRUE(larger.has_value());
  EXPECT_EQ(budget.reserved(), 350 * MiB);
  EXPECT_EQ(budget.available(), 0u);
  smaller = ModelLease<Model>{};
  larger = ModelLease<Model>{};
  EXPECT_EQ(reg.idle_bytes(), 350 * MiB);
  EXPECT_EQ(reg.unload_idle(), 350 * MiB);
  EXPECT_EQ(budget.reserved(), 0u);
}

TEST_F(ModelRegistryTest, LoaderFailureReleasesTheReservationAndAllowsRetry) {
  auto reg = make();
  int calls = 0;
  ModelLoader flaky = [&]() -> Result<LoadedModel> {
    if (++calls == 1) return fail("bad model file", EIO);
    return LoadedModel{std::make_shared<Model>("m", nullptr), std::nullopt};
  };
  auto r = reg.acquire<Model>("m", 100 * MiB, flaky);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, EIO);
  EXPECT_EQ(r.error().message, "loading model 'm': bad model file");
  EXPECT_EQ(budget.reserved(), 0u);
  EXPECT_TRUE(reg.list().empty());

  auto again = reg.acquire<Model>("m", 100 * MiB, flaky);
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_EQ(calls, 2);
}

TEST_F(ModelRegistryTest, LoaderThatThrowsOrReturnsNothingIsAnError) {
  auto reg = make();
  auto t = reg.acquire<Model>(
      "t", 10 * MiB, []() -> Result<LoadedModel> { throw std::runtime_error("corrupt header"); });
  ASSERT_FALSE(t.has_value());
  EXPECT_NE(t.error().message.find("corrupt header"), std::string::npos) << t.error().message;

  auto n = reg.acquire<Model>("n", 10 * MiB, []() -> Result<LoadedModel> { return LoadedModel{}; });
  ASSERT_FALSE(n.has_value());
  EXPECT_EQ(n.error().code, EINVAL);
  EXPECT_EQ(budget.reserved(), 0u);
  EXPECT_TRUE(reg.list().empty());
}

TEST_F(ModelRegistryTest, LoaderFailureReachesEveryWaitingCaller) {
  auto reg = make();
  Gate gate;
  std::atomic<int> calls{0};
  std::atomic<int> started{0};
  ModelLoader failing = [&]() -> Result<LoadedModel> {
    ++calls;
    gate.wait();
    return fail("out of disk", EIO);
  };
  constexpr int kThreads = 6;
  std::vector<int> codes(kThreads, 0);
  std::vector<std::jthread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      ++started;
      auto r = reg.acquire<Model>("m", 100 * MiB, failing);
      codes[static_cast<std::size_t>(i)] = r ? 0 : r.error().code;
    });
  }
  OpenOnExit open_on_exit{gate};
  ASSERT_TRUE(eventually([&] { return started == kThreads && calls == 1; }));
  std::this_thread::sleep_for(50ms);
  gate.open();
  for (auto& t : threads) t.join();
  EXPECT_EQ(calls.load(), 1);
  for (int c : codes) EXPECT_EQ(c, EIO);
  EXPECT_TRUE(reg.list().empty());
  EXPECT_EQ(budget.reserved(), 0u);
}

TEST_F(ModelRegistryTest, LeaseCopiesKeepTheModelUntilTheLastOneGoes) {
  auto reg = make();
  auto r = reg.acquire<Model>("m", 100 * MiB, loader.make("m"));
  ASSERT_TRUE(r.has_value());
  ModelLease<Model> copy = *r;
  *r = ModelLease<Model>{};
  EXPECT_EQ(reg.unload_idle(), 0u);  // the copy still holds it
  EXPECT_EQ(copy->name, "m");
  copy = ModelLease<Model>{};
  EXPECT_EQ(reg.unload_idle(), 100 * MiB);
  EXPECT_EQ(log.get(), std::vector<std::string>{"m"});
}

TEST_F(ModelRegistryTest, PausedBudgetRefusesNewLoads) {
  auto reg = make();
  budget.set_paused(true);
  auto r = reg.acquire<Model>("m", 10 * MiB, loader.make("m"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, EBUSY);
  EXPECT_EQ(loader.calls.load(), 0);
  EXPECT_TRUE(reg.list().empty());
}

}  // namespace
}  // namespace soroka::oomguard

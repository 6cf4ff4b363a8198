// Tests for MemoryBudget: no oversubscription under contention, FIFO, pause, timeouts, resize.
#include "oomguard/budget.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace soroka::oomguard {
namespace {

using namespace std::chrono_literals;
constexpr std::uint64_t MiB = 1024 * 1024;

// Polls `cond` until it holds or a generous deadline passes (threads start at their own pace,
// slower under TSan); returns whether it held.
template <class F>
bool eventually(F cond, std::chrono::milliseconds limit = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST(MemoryBudget, TryReserveAccountsAndReleasesOnDestruction) {
  MemoryBudget b(1024 * MiB);
  {
    auto r = b.try_reserve(300 * MiB, "job-1");
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_TRUE(r->held());
    EXPECT_EQ(r->bytes(), 300 * MiB);
    EXPECT_EQ(b.reserved(), 300 * MiB);
    EXPECT_EQ(b.available(), 724 * MiB);
    const auto held = b.list();
    ASSERT_EQ(held.size(), 1u);
    EXPECT_EQ(held[0].label, "job-1");
    EXPECT_EQ(held[0].bytes, 300 * MiB);
    EXPECT_EQ(held[0].id, r->id());
  }
  EXPECT_EQ(b.reserved(), 0u);
  EXPECT_TRUE(b.list().empty());
}

TEST(MemoryBudget, RequestLargerThanCapacityIsEnomemWithSizes) {
  MemoryBudget b(1024 * MiB);
  auto r = b.try_reserve(2048 * MiB, "huge");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ENOMEM);
  EXPECT_NE(r.error().message.find("needs 2048.0 MiB, capacity is 1024.0 MiB"), std::string::npos)
      << r.error().message;

  // reserve() refuses at once too, instead of waiting for something that can never fit.
  const auto start = std::chrono::steady_clock::now();
  auto w = b.reserve(2048 * MiB, "huge", 5s);
  ASSERT_FALSE(w.has_value());
  EXPECT_EQ(w.error().code, ENOMEM);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST(MemoryBudget, TryReserveWithoutRoomIsEagain) {
  MemoryBudget b(100 * MiB);
  auto a = b.try_reserve(70 * MiB, "a");
  ASSERT_TRUE(a.has_value());
  auto r = b.try_reserve(40 * MiB, "b");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, EAGAIN);
  EXPECT_NE(r.error().message.find("30.0 MiB free"), std::string::npos) << r.error().message;
  EXPECT_EQ(b.reserved(), 70 * MiB);                      // a failed attempt holds nothing
  EXPECT_TRUE(b.try_reserve(30 * MiB, "c").has_value());  // exactly the rest fits
}

TEST(MemoryBudget, MoveTransfersOwnershipAndAssignmentReleasesTheOldOne) {
  MemoryBudget b(100 * MiB);
  auto r1 = b.try_reserve(10 * MiB, "one");
  auto r2 = b.try_reserve(20 * MiB, "two");
  ASSERT_TRUE(r1 && r2);
  Reservation moved(std::move(*r1));
  EXPECT_FALSE(r1->held());
  EXPECT_TRUE(moved.held());
  EXPECT_EQ(b.reserved(), 30 * MiB);
  moved = std::move(*r2);  // "one" is released, "two" now owned by `moved`
  EXPECT_EQ(b.reserved(), 20 * MiB);
  ASSERT_EQ(b.list().size(), 1u);
  EXPECT_EQ(b.list()[0].label, "two");
  moved.release();
  moved.release();  // idempotent
  EXPECT_FALSE(moved.held());
  EXPECT_EQ(b.reserved(), 0u);
}

TEST(MemoryBudget, TimeoutFailsWithFreeBytesAndHolders) {
  MemoryBudget b(1024 * MiB);
  auto a = b.try_reserve(600 * MiB, "job-a");
  auto c = b.try_reserve(300 * MiB, "job-b");
  ASSERT_TRUE(a && c);
  const auto start = std::chrono::steady_clock::now();
  auto r = b.reserve(200 * MiB, "job-c", 50ms);
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ETIMEDOUT);
  EXPECT_GE(waited, 50ms);
  EXPECT_LT(waited, 2s);
  const std::string& m = r.error().message;
  EXPECT_NE(m.find("timed out after 50 ms"), std::string::npos) << m;
  EXPECT_NE(m.find("124.0 MiB free of 1024.0 MiB"), std::string::npos) << m;
  EXPECT_NE(m.find("job-a (600.0 MiB)"), std::string::npos) << m;
  EXPECT_NE(m.find("job-b (300.0 MiB)"), std::string::npos) << m;
  EXPECT_EQ(b.waiting(), 0u);  // the timed-out caller left the queue
  EXPECT_EQ(b.reserved(), 900 * MiB);
}

TEST(MemoryBudget, WaiterGetsRoomWhenReleased) {
  MemoryBudget b(100 * MiB);
  auto holder = b.try_reserve(80 * MiB, "holder");
  ASSERT_TRUE(holder.has_value());
  std::atomic<bool> granted{false};
  std::jthread waiter([&] {
    auto r = b.reserve(50 * MiB, "waiter", 10s);
    granted = r.has_value();
  });
  ASSERT_TRUE(eventually([&] { return b.waiting() == 1; }));
  EXPECT_FALSE(granted.load());
  holder->release();
  waiter.join();
  EXPECT_TRUE(granted.load());
  EXPECT_EQ(b.reserved(), 0u);  // the waiter's reservation died with its thread
}

// A big request at the head of the queue is served before smaller, later ones, even those
// that would fit right now.
TEST(MemoryBudget, FifoSmallLaterRequestDoesNotOvertakeBigWaiter) {
  MemoryBudget b(100 * MiB);
  auto holder = b.try_reserve(60 * MiB, "holder");
  ASSERT_TRUE(holder.has_value());

  // Reservation ids are handed out under the budget's lock, so they give the grant order
  // (the order in which the threads get to record their grants is a race of its own).
  std::atomic<std::uint64_t> big_id{0};
  std::atomic<std::uint64_t> small_id{0};
  std::atomic<int> granted{0};
  auto waiter = [&](std::uint64_t bytes, std::string name, std::atomic<std::uint64_t>* id) {
    auto r = b.reserve(bytes, name, 10s);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    *id = r->id();
    ++granted;
    // Hold until the other one is granted too (both fit together: 80 + 10 <= 100).
    eventually([&] { return granted.load() == 2; });
  };
  std::jthread big(waiter, 80 * MiB, "big", &big_id);
  ASSERT_TRUE(eventually([&] { return b.waiting() == 1; }));
  std::jthread small(waiter, 10 * MiB, "small", &small_id);
  ASSERT_TRUE(eventually([&] { return b.waiting() == 2; }));

  // 60 + 10 would fit, but "small" queues behind "big"; try_reserve does not jump the queue.
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(granted.load(), 0);
  auto jump = b.try_reserve(10 * MiB, "jumper");
  ASSERT_FALSE(jump.has_value());
  EXPECT_EQ(jump.error().code, EAGAIN);
  EXPECT_NE(jump.error().message.find("2 earlier request(s) waiting"), std::string::npos)
      << jump.error().message;

  holder->release();
  big.join();
  small.join();
  EXPECT_EQ(granted.load(), 2);
  EXPECT_LT(big_id.load(), small_id.load());  // "big" was served first
}

// A stream of small reservations that always leaves some of the budget held would starve a
// request for the whole budget without FIFO.
TEST(MemoryBudget, FifoBigRequestIsNotStarvedByStreamOfSmallOnes) {
  MemoryBudget b(100 * MiB);
  std::atomic<std::uint64_t> small_grants{0};
  std::vector<std::jthread> smalls;  // stopped and joined on every exit path
  // Six takers of 30 MiB in 100: three hold while the others wait, so without FIFO what is
  // held rarely drops to zero (without FIFO the big request timed out in 3 of 5 runs; with
  // FIFO it waited ~35 ms: just until the current holders let go).
  for (int i = 0; i < 6; ++i) {
    smalls.emplace_back([&](const std::stop_token& stop) {
      while (!stop.stop_requested()) {
        auto r = b.reserve(30 * MiB, "small", 2s);
        if (r) {
          ++small_grants;
          std::this_thread::sleep_for(2ms);
        }
      }
    });
  }
  ASSERT_TRUE(eventually([&] { return small_grants.load() > 20; }));
  auto big = b.reserve(100 * MiB, "big", 1s);
  const std::string why = big ? std::string() : big.error().message;
  const bool big_ok = big.has_value();
  big = Reservation{};  // let the small ones finish
  for (auto& t : smalls) t.request_stop();
  for (auto& t : smalls) t.join();
  EXPECT_TRUE(big_ok) << why;
  EXPECT_EQ(b.reserved(), 0u);
}

TEST(MemoryBudget, PauseRefusesTryReserveAndHoldsWaitersUntilResumed) {
  MemoryBudget b(100 * MiB);
  auto held = b.try_reserve(10 * MiB, "held");
  ASSERT_TRUE(held.has_value());
  b.set_paused(true);
  EXPECT_TRUE(b.paused());
  EXPECT_TRUE(held->held());  // held reservations are unaffected
  EXPECT_EQ(b.reserved(), 10 * MiB);

  auto r = b.try_reserve(10 * MiB, "new");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, EBUSY);

  auto t = b.reserve(10 * MiB, "timed", 20ms);
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(t.error().code, ETIMEDOUT);
  EXPECT_NE(t.error().message.find("paused"), std::string::npos) << t.error().message;
  EXPECT_NE(t.error().message.find("held (10.0 MiB)"), std::string::npos) << t.error().message;

  std::atomic<bool> granted{false};
  std::jthread waiter([&] { granted = b.reserve(10 * MiB, "waiter", 10s).has_value(); });
  ASSERT_TRUE(eventually([&] { return b.waiting() == 1; }));
  std::this_thread::sleep_for(30ms);
  EXPECT_FALSE(granted.load());
  b.set_paused(false);
  waiter.join();
  EXPECT_TRUE(granted.load());
  EXPECT_TRUE(b.try_reserve(10 * MiB, "after").has_value());
}

TEST(MemoryBudget, CapacityIncreaseWakesWaiter) {
  MemoryBudget b(100 * MiB);
  auto full = b.try_reserve(100 * MiB, "full");
  ASSERT_TRUE(full.has_value());
  std::atomic<bool> granted{false};
  std::jthread waiter([&] { granted = b.reserve(50 * MiB, "waiter", 10s).has_value(); });
  ASSERT_TRUE(eventually([&] { return b.waiting() == 1; }));
  const auto start = std::chrono::steady_clock::now();
  b.set_capacity(150 * MiB);  // nothing released: only the larger capacity makes room
  waiter.join();
  EXPECT_TRUE(granted.load());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);  // woken, not granted at timeout
  EXPECT_EQ(b.capacity(), 150 * MiB);
}

TEST(MemoryBudget, CapacityShrinkBelowRequestFailsWaiterWithEnomem) {
  MemoryBudget b(100 * MiB);
  auto full = b.try_reserve(100 * MiB, "full");
  ASSERT_TRUE(full.has_value());
  int code = 0;
  std::jthread waiter([&] {
    auto r = b.reserve(80 * MiB, "waiter", 10s);
    code = r ? 0 : r.error().code;
  });
  ASSERT_TRUE(eventually([&] { return b.waiting() == 1; }));
  const auto start = std::chrono::steady_clock::now();
  b.set_capacity(50 * MiB);
  waiter.join();
  EXPECT_EQ(code, ENOMEM);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);  // not the 10 s timeout
  EXPECT_EQ(b.available(), 0u);                             // over-committed: 100 held of 50
}

TEST(MemoryBudget, ResizeShrinksAlwaysGrowsOnlyWithRoom) {
  MemoryBudget b(100 * MiB);
  auto r = b.try_reserve(50 * MiB, "model");
  auto other = b.try_reserve(30 * MiB, "other");
  ASSERT_TRUE(r && other);

  EXPECT_TRUE(r->resize(20 * MiB));
  EXPECT_EQ(r->bytes(), 20 * MiB);
  EXPECT_EQ(b.reserved(), 50 * MiB);

  EXPECT_TRUE(r->resize(70 * MiB));  // 70 + 30 = 100: exactly fits
  EXPECT_EQ(b.reserved(), 100 * MiB);

  EXPECT_FALSE(r->resize(71 * MiB));  // no room: unchanged
  EXPECT_EQ(r->bytes(), 70 * MiB);
  EXPECT_EQ(b.reserved(), 100 * MiB);

  Reservation empty;
  EXPECT_FALSE(empty.resize(1));
}

TEST(MemoryBudget, ForcedGrowOverCommitsUntilReleased) {
  MemoryBudget b(100 * MiB);
  auto r = b.try_reserve(60 * MiB, "model");
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->resize(130 * MiB, /*force=*/true));  // measured larger than reserved
  EXPECT_EQ(b.reserved(), 130 * MiB);
  EXPECT_EQ(b.available(), 0u);
  ASSERT_EQ(b.list().size(), 1u);
  EXPECT_EQ(b.list()[0].bytes, 130 * MiB);
  auto more = b.try_reserve(1, "more");
  ASSERT_FALSE(more.has_value());
  EXPECT_EQ(more.error().code, EAGAIN);

  EXPECT_TRUE(r->resize(90 * MiB));  // shrinking back under the capacity
  EXPECT_EQ(b.available(), 10 * MiB);
  r->release();
  EXPECT_EQ(b.reserved(), 0u);
  EXPECT_EQ(b.available(), 100 * MiB);
}

// Many threads reserving and releasing random sizes: the sum of what is held at any moment,
// tracked independently by the test, never exceeds the capacity.
TEST(MemoryBudget, ConcurrentReservationsNeverOversubscribe) {
  constexpr std::uint64_t kCapacity = 1000;
  constexpr int kThreads = 8;
  constexpr int kIterations = 1500;
  MemoryBudget b(kCapacity);
  std::atomic<std::uint64_t> held{0};
  std::atomic<std::uint64_t> max_held{0};
  std::atomic<int> violations{0};
  std::atomic<int> grants{0};

  std::jthread observer([&](const std::stop_token& stop) {
    while (!stop.stop_requested()) {
      if (b.reserved() > kCapacity) ++violations;
      std::this_thread::yield();
    }
  });
  std::vector<std::jthread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t) + 1);
      std::uniform_int_distribution<std::uint64_t> size(1, 400);
      for (int i = 0; i < kIterations; ++i) {
        const std::uint64_t bytes = size(rng);
        auto r = (i % 2 == 0) ? b.try_reserve(bytes, "t") : b.reserve(bytes, "t", 100ms);
        if (!r) continue;
        ++grants;
        const std::uint64_t now_held = held.fetch_add(bytes) + bytes;
        if (now_held > kCapacity) ++violations;
        std::uint64_t prev = max_held.load();
        while (now_held > prev && !max_held.compare_exchange_weak(prev, now_held)) {
        }
        if (i % 7 == 0) std::this_thread::yield();
        held.fetch_sub(bytes);  // before the release, so `held` never lags behind the budget
        r->release();
      }
    });
  }
  for (auto& w : workers) w.join();
  observer.request_stop();
  observer.join();

  EXPECT_EQ(violations.load(), 0);
  EXPECT_LE(max_held.load(), kCapacity);
  EXPECT_GT(grants.load(), kThreads * kIterations / 4);  // the test did exercise the budget
  EXPECT_GT(max_held.load(), kCapacity / 2);             // ... with real contention
  EXPECT_EQ(b.reserved(), 0u);
  EXPECT_EQ(b.waiting(), 0u);
  EXPECT_TRUE(b.list().empty());
}

}  // namespace
}  // namespace soroka::oomguard

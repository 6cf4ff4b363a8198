// The monitor's hot path does not allocate: counts operator new calls around sample_fast().
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "oomguard/levels.h"
#include "oomguard/sampler.h"
#include "support/fixture.h"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};
}  // namespace

// Replaces the global allocation functions for this test binary; counting is off except
// inside the measured region, so the rest of the suite is unaffected.
void* operator new(std::size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
// The nothrow forms too (std::stable_sort's temporary buffer uses them): every allocation
// that reaches one of the deletes below must come from malloc (AddressSanitizer checks).
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  return std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace soroka::oomguard {
namespace {

long allocations_during(Sampler& s, bool fast, int n) {
  g_allocations = 0;
  g_counting = true;
  bool ok = true;
  for (int i = 0; i < n; ++i) {
    auto snap = fast ? s.sample_fast(83.0) : s.sample();
    ok = ok && snap.has_value();
  }
  g_counting = false;
  EXPECT_TRUE(ok);
  return g_allocations.load();
}

TEST(SamplerHotPath, TheCounterSeesAllocations) {
  g_allocations = 0;
  g_counting = true;
  auto* v = new std::vector<int>(1000);
  g_counting = false;
  delete v;
  EXPECT_GE(g_allocations.load(), 2);  // the vector object and its buffer
}

TEST(SamplerHotPath, NoAllocationOnThisMachine) {
  auto s = Sampler::open(Roots{}, Target{});
  ASSERT_TRUE(s) << s.error().message;
  (void)s->sample();  // warm caches
  EXPECT_EQ(allocations_during(*s, true, 1000), 0);
  EXPECT_EQ(allocations_during(*s, false, 100), 0);
}

TEST(SamplerHotPath, NoAllocationOnAV2ServiceNearItsLimit) {
  test::FixtureTree tree;
  tree.write_meminfo(24 * 1024 * 1024, 20 * 1024 * 1024, 22 * 1024 * 1024);
  test::V2Group g;
  g.current = 1900 * kMiB;  // 93 % of 2 GiB: past the grey zone, memory.stat is re-read
  g.max = 2048 * kMiB;
  g.high = 1536 * kMiB;
  g.anon = 1800 * kMiB;
  g.inactive_file = 50 * kMiB;
  tree.make_v2_cgroup("/system.slice", test::V2Group{.current = 1950 * kMiB});
  tree.make_v2_cgroup("/system.slice/soroka.service", g);
  test::FakeProcess p;
  p.cgroup = "0::/system.slice/soroka.service\n";
  tree.write_process("self", p);
  auto s = Sampler::open(tree.roots(), Target{});
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_EQ(s->info().source, Source::cgroup_v2);
  (void)s->sample();
  EXPECT_EQ(allocations_during(*s, true, 1000), 0);
}

}  // namespace
}  // namespace soroka::oomguard

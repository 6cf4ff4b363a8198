// The diarizer's memory against working_bytes(): every heap byte it holds is counted by
// interposing malloc in this test binary, while 20 min and 3 h of synthetic dialogue go in and
// are read a second time by the resegmentation pass.
#include <gtest/gtest.h>
#include <malloc.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

#include "diarize/diarizer.h"

extern "C" {
void* __libc_malloc(std::size_t);
void __libc_free(void*);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
}

namespace {

std::atomic<std::int64_t> g_live{0}, g_peak{0};

void* counted(void* p) {
  if (p) {
    auto now = g_live += static_cast<std::int64_t>(malloc_usable_size(p));
    auto peak = g_peak.load();
    while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {}
  }
  return p;
}
void uncount(void* p) {
  if (p) g_live -= static_cast<std::int64_t>(malloc_usable_size(p));
}

}  // namespace

// Interposed for the whole binary (the tests, gtest, libstdc++'s operator new, Eigen, FFTW).
#if !defined(__SANITIZE_ADDRESS__)
extern "C" {
void* malloc(std::size_t n) { return counted(__libc_malloc(n)); }
void free(void* p) {
  uncount(p);
  __libc_free(p);
}
void* calloc(std::size_t a, std::size_t b) { return counted(__libc_calloc(a, b)); }
void* realloc(void* p, std::size_t n) {
  uncount(p);
  return counted(__libc_realloc(p, n));
}
void* memalign(std::size_t a, std::size_t n) { return counted(__libc_memalign(a, n)); }
void* aligned_alloc(std::size_t a, std::size_t n) { return counted(__libc_memalign(a, n)); }
int posix_memalign(void** out, std::size_t a, std::size_t n) {
  *out = counted(__libc_memalign(a, n));
  return *out ? 0 : ENOMEM;
}
}
#endif

namespace soroka::diarize {
namespace {

// Two synthetic voices: harmonics of 110 or 210 Hz with different spectral tilts, a little
// noise, 1-8 s per turn; made once, replayed with new start times.
std::vector<segment::Segment> make_turns_audio() {
  std::mt19937 rng(5);
  std::normal_distribution<double> noise(0, 300);
  std::vector<segment::Segment> out;
  for (int i = 0; i < 16; ++i) {
    int voice = i % 2;
    double f0 = voice ? 210 : 110, tilt = voice ? 0.6 : 0.85;
    auto n = static_cast<std::size_t>(16000 * (1 + (i * 37) % 8));
    segment::Segment s;
    s.samples.resize(n);
    for (std::size_t t = 0; t < n; ++t) {
      double v = 0, amp = 4000, ts = static_cast<double>(t) / 16000;
      for (int h = 1; h <= 12; ++h, amp *= tilt) v += amp * std::sin(2 * M_PI * f0 * h * ts);
      v *= 0.6 + 0.4 * std::sin(2 * M_PI * 3 * ts);  // syllable-rate envelope
      s.samples[t] = static_cast<std::int16_t>(std::clamp(v + noise(rng), -32000.0, 32000.0));
    }
    out.push_back(std::move(s));
  }
  return out;
}

constexpr std::int64_t kGap = 8000;  // 0.5 s of silence after each turn

// The dialogue run() feeds, as one stream (silence in the gaps), for the second pass: made on
// the fly, so the test's own memory does not grow with the length.
class DialogueReplay final : public AudioReplay {
 public:
  DialogueReplay(const std::vector<segment::Segment>& audio, std::int64_t total)
      : audio_(audio), left_(total) {}
  Result<std::size_t> read(std::span<std::int16_t> out) override {
    std::size_t n = 0;
    while (n < out.size() && left_ > 0) {
      const auto& turn = audio_[turn_ % audio_.size()].samples;
      const auto len = static_cast<std::int64_t>(turn.size());
      out[n++] = at_ < len ? turn[static_cast<std::size_t>(at_)] : std::int16_t{0};
      --left_;
      if (++at_ == len + kGap) at_ = 0, ++turn_;
    }
    return n;
  }

 private:
  const std::vector<segment::Segment>& audio_;
  std::int64_t left_, at_ = 0;
  std::size_t turn_ = 0;
};

struct Measured {
  std::int64_t peak = 0;
  std::size_t turns = 0;
};

// Feeds `seconds` of dialogue (0.5 s gaps between turns) and returns the peak heap use above
// what was live before the diarizer was made.
Measured run(std::vector<segment::Segment>& audio, double seconds) {
  std::int64_t base = g_live.load();
  g_peak = base;
  Measured m;
  {
    auto d = make_diarizer({});
    EXPECT_TRUE(d);
    std::int64_t at = 0;
    for (std::size_t i = 0; static_cast<double>(at) < seconds * 16000; ++i) {
      auto& s = audio[i % audio.size()];
      s.start_sample = at;
      EXPECT_TRUE((*d)->add(s));
      at += static_cast<std::int64_t>(s.samples.size()) + kGap;
    }
    DialogueReplay again(audio, at);
    auto turns = (*d)->finish_resegmented(again);
    EXPECT_TRUE(turns);
    m.turns = turns ? turns->size() : 0;
  }
  m.peak = g_peak.load() - base;
  return m;
}

TEST(DiarizeMemory, StaysUnderWorkingBytesAndFlatInLength) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "malloc is interposed by the sanitizer runtime; the count needs our own";
#endif
  auto audio = make_turns_audio();
  void* probe = std::malloc(1000);
  ASSERT_GE(g_live.load(), 1000) << "malloc interposition is not active";
  std::free(probe);
  Measured short_run = run(audio, 20 * 60.0), long_run = run(audio, 3 * 3600.0);
  EXPECT_GT(long_run.turns, 1000u);
  EXPECT_LE(static_cast<std::uint64_t>(short_run.peak), working_bytes(20 * 60.0));
  EXPECT_LE(static_cast<std::uint64_t>(long_run.peak), working_bytes(3 * 3600.0));
  // Beyond the turns (and the per-piece labels they come from), 3 h needs what 20 min needs.
  double per_turn = static_cast<double>(long_run.peak - short_run.peak) /
                    static_cast<double>(long_run.turns - short_run.turns);
  EXPECT_LT(per_turn, 400.0) << "bytes per extra turn: " << per_turn;
  std::printf("diarize memory: 20 min %.2f MB, 3 h %.2f MB (bound %.2f MB), %zu turns\n",
              static_cast<double>(short_run.peak) / 1e6, static_cast<double>(long_run.peak) / 1e6,
              static_cast<double>(working_bytes(3 * 3600.0)) / 1e6, long_run.turns);
}

}  // namespace
}  // namespace soroka::diarize

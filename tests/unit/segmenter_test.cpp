// Segmenter on synthetic PCM: silence, bursts and pauses, cuts at the cap, bounded memory.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <numbers>
#include <random>
#include <vector>

#include "segment/segmenter.h"

namespace soroka::segment {
namespace {

constexpr int kRate = 16000;
constexpr double kFrameS = 0.02;  // the segmenter's analysis frame: boundaries land on it

// Builds a signal piece by piece: silence, tones with an amplitude, noise underneath.
class Signal {
 public:
  Signal& silence(double s) { return tone(s, 0); }
  Signal& tone(double s, double amplitude, double hz = 440) {
    auto n = static_cast<std::size_t>(std::llround(s * kRate));
    for (std::size_t i = 0; i < n; ++i, ++t_) {
      double v = amplitude * std::sin(2 * std::numbers::pi * hz * static_cast<double>(t_) / kRate);
      pcm_.push_back(static_cast<std::int16_t>(std::lround(v)));
    }
    return *this;
  }
  // Adds uniform noise of +-amplitude over [from, to) seconds.
  Signal& noise(double from, double to, int amplitude, unsigned seed = 1) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> d(-amplitude, amplitude);
    auto a = static_cast<std::size_t>(from * kRate),
         b = std::min(pcm_.size(), static_cast<std::size_t>(to * kRate));
    for (std::size_t i = a; i < b; ++i)
      pcm_[i] = static_cast<std::int16_t>(std::clamp(pcm_[i] + d(rng), -32768, 32767));
    return *this;
  }
  double now() const { return static_cast<double>(pcm_.size()) / kRate; }
  const std::vector<std::int16_t>& pcm() const { return pcm_; }

 private:
  std::vector<std::int16_t> pcm_;
  std::int64_t t_ = 0;
};

std::vector<Segment> run(const std::vector<std::int16_t>& pcm, SegmenterParams p = {},
                         std::size_t chunk = 4096) {
  Segmenter seg(p);
  std::vector<Segment> out;
  auto sink = [&](Segment&& s) { out.push_back(std::move(s)); };
  for (std::size_t i = 0; i < pcm.size(); i += chunk)
    seg.push(std::span(pcm).subspan(i, std::min(chunk, pcm.size() - i)), sink);
  seg.finish(sink);
  return out;
}

// Every segment is a non-empty, in-order, non-overlapping copy of the input, within the cap.
void expect_well_formed(const std::vector<Segment>& segs, const std::vector<std::int16_t>& pcm,
                        const SegmenterParams& p) {
  std::int64_t prev_end = 0;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    const Segment& s = segs[i];
    SCOPED_TRACE("segment " + std::to_string(i) + " at " + std::to_string(s.start_s()));
    ASSERT_FALSE(s.samples.empty());
    EXPECT_GE(s.start_sample, prev_end);
    EXPECT_LE(s.end_s(), p.max_segment_s * (1 + 1e-9) + s.start_s());
    ASSERT_LE(s.start_sample + static_cast<std::int64_t>(s.samples.size()),
              static_cast<std::int64_t>(pcm.size()));
    EXPECT_TRUE(std::equal(s.samples.begin(), s.samples.end(), pcm.begin() + s.start_sample));
    prev_end = s.start_sample + static_cast<std::int64_t>(s.samples.size());
  }
}

TEST(Segmenter, DigitalSilenceGivesNoSegments) {
  Signal sig;
  sig.silence(30);
  EXPECT_TRUE(run(sig.pcm()).empty());
}

TEST(Segmenter, SteadyBackgroundNoiseGivesNoSegments) {
  Signal sig;
  sig.silence(30).noise(0, 30, 300);  // about -45 dBFS, a quiet room through a phone
  EXPECT_TRUE(run(sig.pcm()).empty());
}

TEST(Segmenter, BurstsSeparatedByPausesBecomeOneSegmentEach) {
  Signal sig;
  struct Burst {
    double start, end;
  };
  std::vector<Burst> bursts;
  auto burst = [&](double len) {
    double a = sig.now();
    sig.tone(len, 8000);
    bursts.push_back({a, sig.now()});
  };
  sig.silence(1.0);
  burst(1.0);
  sig.silence(0.7);
  burst(1.5);
  sig.silence(1.2);
  burst(0.6);
  sig.silence(1.0);

  SegmenterParams p;
  auto segs = run(sig.pcm(), p);
  ASSERT_EQ(segs.size(), bursts.size());
  expect_well_formed(segs, sig.pcm(), p);
  for (std::size_t i = 0; i < segs.size(); ++i) {
    SCOPED_TRACE("burst " + std::to_string(i));
    EXPECT_NEAR(segs[i].start_s(), bursts[i].start - p.pad_s, kFrameS + 1e-9);
    EXPECT_NEAR(segs[i].end_s(), bursts[i].end + p.pad_s, kFrameS + 1e-9);
  }
}

TEST(Segmenter, PausesShorterThanMinSilenceDoNotSplit) {
  Signal sig;
  sig.silence(1).tone(1, 8000).silence(0.2).tone(1, 8000).silence(1);
  auto segs = run(sig.pcm());
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_NEAR(segs[0].start_s(), 0.8, kFrameS);
  EXPECT_NEAR(segs[0].end_s(), 3.4, kFrameS);
}

TEST(Segmenter, DropsBurstsShorterThanMinSpeech) {
  Signal sig;
  sig.silence(1).tone(0.1, 12000).silence(1).tone(0.3, 8000).silence(1);  // a click, then a word
  SegmenterParams p;
  auto segs = run(sig.pcm(), p);
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_NEAR(segs[0].start_s(), 2.1 - p.pad_s, kFrameS);
}

TEST(Segmenter, LongBurstIsCutAtItsQuietestPointBeforeTheCap) {
  // 30 s of sound with no pause and dips at 2.0 s (deepest), 5.0 s, 8.0 s and 9.5 s, each
  // 0.1 s long. The first segment starts at 0.8 s, so with a 10 s cap it must be cut before
  // 10.8 s but not in its first third (before 4.13 s): the dip at 8.0-8.1 s is the quietest.
  Signal sig;
  sig.silence(1).tone(1, 8000).tone(0.1, 200).tone(2.9, 8000).tone(0.1, 3000).tone(2.9, 8000);
  sig.tone(0.1, 300).tone(1.4, 8000).tone(0.1, 1500).tone(21.4, 8000).silence(1);
  ASSERT_NEAR(sig.now(), 32.0, 1e-6);
  SegmenterParams p;
  p.max_segment_s = 10;
  auto segs = run(sig.pcm(), p);
  ASSERT_GE(segs.size(), 4u);
  expect_well_formed(segs, sig.pcm(), p);
  EXPECT_NEAR(segs[0].start_s(), 0.8, kFrameS);
  EXPECT_NEAR(segs[0].end_s(), 8.05, kFrameS);
  // Forced cuts leave no gap: the next segment continues where the last one stopped.
  for (std::size_t i = 1; i < segs.size(); ++i)
    EXPECT_EQ(segs[i].start_sample,
              segs[i - 1].start_sample + static_cast<std::int64_t>(segs[i - 1].samples.size()));
  EXPECT_NEAR(segs.back().end_s(), 31.2, kFrameS);
}

TEST(Segmenter, LongSpeechIsCutInTheLongestShortPause) {
  // Words of 1.2 s with 0.1 s gaps, one 0.26 s gap at 8.1 s: all gaps are shorter than
  // min_silence_s, so only the cap forces a cut, and it goes in the longest gap.
  Signal sig;
  sig.silence(1);
  double long_gap_mid = 0;
  for (int w = 0; w < 15; ++w) {
    sig.tone(1.2, 8000, 300 + 40 * w);
    double gap = w == 5 ? 0.26 : 0.1;
    if (w == 5) long_gap_mid = sig.now() + gap / 2;
    sig.silence(gap);
  }
  sig.silence(1);
  SegmenterParams p;
  p.max_segment_s = 12;
  auto segs = run(sig.pcm(), p);
  ASSERT_GE(segs.size(), 2u);
  expect_well_formed(segs, sig.pcm(), p);
  EXPECT_NEAR(segs[0].end_s(), long_gap_mid, 0.06);
}

TEST(Segmenter, AdaptsToAStepInBackgroundNoise) {
  // Quiet room for 10 s, then a fan starts (+25 dB) and stays; a word at 60 s. The noise step
  // may be taken for speech while the floor catches up (1 dB/s), but not for long.
  Signal sig;
  sig.silence(60).tone(1, 12000).silence(4);
  sig.noise(0, 10, 20, 1).noise(10, 65, 360, 2);
  SegmenterParams p;
  auto segs = run(sig.pcm(), p);
  expect_well_formed(segs, sig.pcm(), p);
  ASSERT_FALSE(segs.empty());
  const Segment& word = segs.back();
  EXPECT_NEAR(word.start_s(), 60 - p.pad_s, kFrameS);
  EXPECT_NEAR(word.end_s(), 61 + p.pad_s, kFrameS);
  for (std::size_t i = 0; i + 1 < segs.size(); ++i)
    EXPECT_LT(segs[i].end_s(), 40) << "noise still taken for speech";
}

TEST(Segmenter, FinishFlushesSpeechThatRunsToTheEnd) {
  Signal sig;
  sig.silence(1).tone(2, 8000);
  auto segs = run(sig.pcm());
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_NEAR(segs[0].start_s(), 0.8, kFrameS);
  EXPECT_NEAR(segs[0].end_s(), 3.0, kFrameS);
}

TEST(Segmenter, ChunkSizeDoesNotChangeTheResult) {
  std::mt19937 rng(7);
  Signal sig;
  for (int i = 0; i < 40; ++i) {
    sig.silence(std::uniform_real_distribution(0.05, 1.5)(rng));
    sig.tone(std::uniform_real_distribution(0.05, 6.0)(rng),
             std::uniform_real_distribution(500.0, 12000.0)(rng));
  }
  sig.noise(0, sig.now(), 40, 3);
  SegmenterParams p;
  p.max_segment_s = 5;
  auto reference = run(sig.pcm(), p, 4096);
  ASSERT_FALSE(reference.empty());
  expect_well_formed(reference, sig.pcm(), p);
  for (std::size_t chunk : {1u, 333u, 16000u, 1u << 22}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    auto segs = run(sig.pcm(), p, chunk);
    ASSERT_EQ(segs.size(), reference.size());
    for (std::size_t i = 0; i < segs.size(); ++i) {
      EXPECT_EQ(segs[i].start_sample, reference[i].start_sample);
      EXPECT_EQ(segs[i].samples.size(), reference[i].samples.size());
    }
  }
}

TEST(Segmenter, AnHourOfSilenceIsFastAndHoldsOnlyThePadding) {
  SegmenterParams p;
  Segmenter seg(p);
  // 0.5 s chunks (what the pipeline reads from the decoder) of dither-level noise, +-10.
  std::vector<std::int16_t> chunk(kRate / 2);
  std::mt19937 rng(5);
  for (auto& s : chunk) s = static_cast<std::int16_t>(static_cast<int>(rng() % 21) - 10);
  std::size_t most = 0, segments = 0;
  auto sink = [&](Segment&&) { ++segments; };
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 2 * 3600; ++i) {
    seg.push(chunk, sink);
    most = std::max(most, seg.buffered_samples());
  }
  seg.finish(sink);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(segments, 0u);
  // pad_s before the current frame, plus up to two frames of alignment and carry-over.
  EXPECT_LE(most, static_cast<std::size_t>((p.pad_s + 3 * kFrameS) * kRate));
  EXPECT_LT(secs, 5.0);
  std::printf("[ figures  ] 1 h of silence segmented in %.2f s; at most %zu samples held\n", secs,
              most);
}

TEST(Segmenter, EndlessSpeechHoldsAtMostOneSegmentPlusLookahead) {
  // 10 minutes of "speech" that never pauses long enough: words with 0.1 s gaps.
  SegmenterParams p;
  p.max_segment_s = 20;
  Segmenter seg(p);
  std::size_t most = 0;
  std::vector<Segment> segs;
  auto sink = [&](Segment&& s) { segs.push_back(std::move(s)); };
  for (int w = 0; w < 600 / 1.3; ++w) {
    Signal word;
    word.tone(1.2, 8000, 200 + 10 * (w % 30)).silence(0.1);
    seg.push(word.pcm(), sink);
    most = std::max(most, seg.buffered_samples());
  }
  seg.finish(sink);
  EXPECT_GE(segs.size(), 30u);
  for (const auto& s : segs)
    EXPECT_LE(s.samples.size(), static_cast<std::size_t>(p.max_segment_s * kRate));
  EXPECT_LE(most,
            static_cast<std::size_t>((p.max_segment_s + p.min_silence_s + 2 * kFrameS) * kRate));
}

}  // namespace
}  // namespace soroka::segment

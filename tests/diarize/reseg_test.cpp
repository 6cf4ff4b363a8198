// The resegmentation pass: spans from frame labels, and the second reading of the input on
// synthetic voices (the change found inside a stretch, gaps skipped, a changed or short
// input refused, a short stretch left to the first pass), and the diarizer keeping its
// first-pass turns when the second reading fails.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "diarize/reseg.h"

namespace soroka::diarize {
namespace {

constexpr int kRate = 16000;

// A synthetic voice: harmonics of f0 with a spectral tilt, a syllable-rate envelope, noise.
std::vector<std::int16_t> voice(int who, double seconds, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0, 300);
  const double f0 = who ? 210 : 110, tilt = who ? 0.6 : 0.85;
  std::vector<std::int16_t> out(static_cast<std::size_t>(seconds * kRate));
  for (std::size_t t = 0; t < out.size(); ++t) {
    double v = 0, amp = 4000, ts = static_cast<double>(t) / kRate;
    for (int h = 1; h <= 12; ++h, amp *= tilt) v += amp * std::sin(2 * M_PI * f0 * h * ts);
    v *= 0.6 + 0.4 * std::sin(2 * M_PI * 3 * ts);
    out[t] = static_cast<std::int16_t>(std::clamp(v + noise(rng), -32000.0, 32000.0));
  }
  return out;
}

std::vector<std::int16_t> cat(std::vector<std::int16_t> a, const std::vector<std::int16_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// The input as one buffer, read in odd-sized blocks.
class BufferReplay final : public AudioReplay {
 public:
  explicit BufferReplay(std::vector<std::int16_t> pcm) : pcm_(std::move(pcm)) {}
  Result<std::size_t> read(std::span<std::int16_t> out) override {
    std::size_t n = std::min({out.size(), pcm_.size() - at_, std::size_t{3001}});
    std::copy_n(pcm_.begin() + static_cast<std::ptrdiff_t>(at_), n, out.begin());
    at_ += n;
    return n;
  }

 private:
  std::vector<std::int16_t> pcm_;
  std::size_t at_ = 0;
};

GaussModel model_of(FeatureExtractor& fx, const std::vector<std::int16_t>& pcm) {
  Frames f = fx.extract(pcm);
  GaussStats s(fx.dim());
  s.add_rows(f.x, 0, f.x.rows());
  return GaussModel::from(s);
}

Stretch stretch(FeatureExtractor& fx, const std::vector<std::int16_t>& all, double from_s, double to_s) {
  auto a = static_cast<std::size_t>(from_s * kRate), b = static_cast<std::size_t>(to_s * kRate);
  std::vector<std::int16_t> part(all.begin() + static_cast<std::ptrdiff_t>(a), all.begin() + static_cast<std::ptrdiff_t>(b));
  return {static_cast<std::int64_t>(a), static_cast<std::int32_t>(b - a),
          static_cast<std::int32_t>(fx.extract(part).x.rows())};
}

TEST(DiarizeReseg, SpansOfLabelsChangeMidwayBetweenFrames) {
  struct Case {
    std::vector<int> labels;
    std::vector<float> times;
    std::vector<LabeledSpan> expected;
  };
  const Case cases[] = {
      {{}, {}, {}},
      {{1}, {0.5f}, {{10, 12, 1}}},
      {{0, 0, 1, 1}, {0.1f, 0.2f, 0.4f, 0.5f}, {{10, 10.3, 0}, {10.3, 12, 1}}},
      {{0, 1, 0}, {0.1f, 0.3f, 1.3f}, {{10, 10.2, 0}, {10.2, 10.8, 1}, {10.8, 12, 0}}},
  };
  for (const auto& c : cases) {
    auto got = spans_of(c.labels, c.times, 10.0, 12.0);
    ASSERT_EQ(got.size(), c.expected.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_NEAR(got[i].start_s, c.expected[i].start_s, 1e-6);
      EXPECT_NEAR(got[i].end_s, c.expected[i].end_s, 1e-6);
      EXPECT_EQ(got[i].cluster, c.expected[i].cluster);
    }
  }
}

TEST(DiarizeReseg, FindsTheChangeInsideAStretchAndSkipsTheGaps) {
  auto fx = make_lfcc(kRate);
  std::vector<GaussModel> models = {model_of(*fx, voice(0, 8, 1)), model_of(*fx, voice(1, 8, 2))};
  // 0-1 s: noise the first pass left out; 1-4 s voice 0; 4-6 s voice 1; 6-7 s left out;
  // 7-9 s voice 0.
  auto junk = voice(1, 1, 9);
  auto all = cat(cat(cat(cat(junk, voice(0, 3, 3)), voice(1, 2, 4)), junk), voice(0, 2, 5));
  std::vector<Stretch> st = {stretch(*fx, all, 1, 6), stretch(*fx, all, 7, 9)};
  BufferReplay in(all);
  ResegParams p{{50, 20.0}, 30, kRate};
  auto spans = resegment(in, st, *fx, models, p);
  ASSERT_TRUE(spans) << spans.error().message;
  ASSERT_EQ(spans->size(), 3u);
  EXPECT_DOUBLE_EQ((*spans)[0].start_s, 1.0);
  EXPECT_EQ((*spans)[0].cluster, 0);
  EXPECT_NEAR((*spans)[0].end_s, 4.0, 0.1);
  EXPECT_EQ((*spans)[1].cluster, 1);
  EXPECT_DOUBLE_EQ((*spans)[1].end_s, 6.0);
  EXPECT_DOUBLE_EQ((*spans)[2].start_s, 7.0);
  EXPECT_DOUBLE_EQ((*spans)[2].end_s, 9.0);
  EXPECT_EQ((*spans)[2].cluster, 0);
}

TEST(DiarizeReseg, RefusesAnInputThatChangedOrEndsEarlyAndLeavesShortStretches) {
  auto fx = make_lfcc(kRate);
  std::vector<GaussModel> models = {model_of(*fx, voice(0, 8, 1)), model_of(*fx, voice(1, 8, 2))};
  auto all = cat(voice(0, 3, 3), voice(1, 2, 4));
  std::vector<Stretch> st = {stretch(*fx, all, 0, 5)};
  ResegParams p{{50, 20.0}, 30, kRate};

  BufferReplay shorter(std::vector<std::int16_t>(all.begin(), all.begin() + 4 * kRate));
  auto r = resegment(shorter, st, *fx, models, p);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("ended"), std::string::npos) << r.error().message;

  auto other = all;  // the same length, but a quiet first second: fewer frames kept
  std::fill(other.begin(), other.begin() + kRate, std::int16_t{0});
  BufferReplay changed(other);
  r = resegment(changed, st, *fx, models, p);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("changed"), std::string::npos) << r.error().message;

  std::vector<Stretch> tiny = {stretch(*fx, all, 0, 0.2)};  // ~18 frames, under 30
  BufferReplay in(all);
  r = resegment(in, tiny, *fx, models, p);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].cluster, -1);
}

// An input that fails at its first read.
class BrokenReplay final : public AudioReplay {
 public:
  Result<std::size_t> read(std::span<std::int16_t>) override {
    return fail(FailureKind::invalid_input, "truncated or corrupt at 0.0 s");
  }
};

// Two voices in one segment of speech (a change the segmenter cannot see), then one more turn.
struct Dialogue {
  std::vector<std::int16_t> all;
  std::vector<segment::Segment> speech;
};
Dialogue dialogue() {
  Dialogue d;
  d.all = cat(cat(cat(voice(0, 4, 3), voice(1, 4, 4)), std::vector<std::int16_t>(kRate, 0)),
              voice(0, 3, 5));
  segment::Segment a, b;
  a.start_sample = 0;
  a.samples.assign(d.all.begin(), d.all.begin() + 8 * kRate);
  b.start_sample = 9 * kRate;
  b.samples.assign(d.all.begin() + 9 * kRate, d.all.end());
  d.speech = {a, b};
  return d;
}

std::vector<Turn> diarize(const Dialogue& d, AudioReplay* again) {
  auto dia = make_diarizer({});
  EXPECT_TRUE(dia);
  for (const auto& s : d.speech) EXPECT_TRUE((*dia)->add(s));
  auto turns = again ? (*dia)->finish_resegmented(*again) : (*dia)->finish();
  EXPECT_TRUE(turns);
  return turns ? *turns : std::vector<Turn>{};
}

TEST(DiarizeReseg, TheDiarizerPlacesTheChangeOrKeepsItsFirstPassWhenTheInputFails) {
  Dialogue d = dialogue();
  auto first = diarize(d, nullptr);
  BrokenReplay broken;
  auto kept = diarize(d, &broken);
  ASSERT_EQ(kept.size(), first.size());
  for (std::size_t i = 0; i < kept.size(); ++i) {
    EXPECT_EQ(kept[i].start_s, first[i].start_s);
    EXPECT_EQ(kept[i].end_s, first[i].end_s);
    EXPECT_EQ(kept[i].speaker, first[i].speaker);
  }
  BufferReplay in(d.all);
  auto turns = diarize(d, &in);
  ASSERT_EQ(turns.size(), 3u);
  EXPECT_EQ(turns[0].speaker, 0);
  EXPECT_NEAR(turns[0].end_s, 4.0, 0.1);
  EXPECT_EQ(turns[1].speaker, 1);
  EXPECT_EQ(turns[2].speaker, 0);
  EXPECT_DOUBLE_EQ(turns[2].start_s, 9.0);
}

}  // namespace
}  // namespace soroka::diarize

// The diarizer's parts on synthetic Gaussian data: change detection, clustering and its
// count choice, the capped pool, known-speaker matching, turn numbering, frame selection,
// parameter validation.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

#include "diarize/change.h"
#include "diarize/cluster.h"
#include "diarize/diarizer.h"
#include "diarize/features.h"
#include "diarize/known.h"
#include "diarize/turns.h"

namespace soroka::diarize {
namespace {

constexpr int kDim = 19;

// Frames of a synthetic "voice": a Gaussian with its own mean and per-dimension scale.
Eigen::MatrixXf voice_frames(int voice, int n, std::mt19937& rng) {
  std::normal_distribution<float> g(0, 1);
  Eigen::MatrixXf x(n, kDim);
  for (int i = 0; i < n; ++i)
    for (int d = 0; d < kDim; ++d)
      x(i, d) = 2.0f * static_cast<float>(voice) * ((d % 3) - 1.0f) +
                (1.0f + 0.3f * static_cast<float>((voice + d) % 4)) * g(rng);
  return x;
}

GaussStats stats_of(const Eigen::MatrixXf& x) {
  GaussStats s(static_cast<int>(x.cols()));
  s.add_rows(x, 0, x.rows());
  return s;
}

TEST(DiarizeChange, FindsTheChangeBetweenTwoVoicesAndNoneInOne) {
  std::mt19937 rng(1);
  Eigen::MatrixXf two(600, kDim);
  two << voice_frames(0, 300, rng), voice_frames(1, 300, rng);
  auto cuts = detect_changes(two, ChangeParams{});
  ASSERT_EQ(cuts.size(), 1u);
  EXPECT_NEAR(static_cast<double>(cuts[0]), 300.0, 10.0);
  EXPECT_TRUE(detect_changes(voice_frames(0, 600, rng), ChangeParams{}).empty());
  EXPECT_TRUE(detect_changes(voice_frames(0, 60, rng), ChangeParams{}).empty());  // too short
}

TEST(DiarizeCluster, ChoosesTheCountByBicAndHonoursTheRange) {
  // loglik by k (index 0 unused): big gains up to 3 clusters, then small ones.
  std::vector<double> ll = {0, -1000, -500, -100, -90, -85};
  struct Row {
    CountRange r;
    double penalty;
    int want;
  } rows[] = {
      {{0, 1, 8}, 50, 3},  {{0, 1, 8}, 600, 1}, {{0, 1, 8}, 1, 5},  {{2, 1, 8}, 50, 2},
      {{0, 4, 8}, 50, 4},  {{0, 1, 2}, 50, 2},  {{9, 1, 9}, 50, 5},  {{0, 6, 8}, 50, 5},
  };
  for (const auto& r : rows)
    EXPECT_EQ(choose_count(ll, r.penalty, r.r), r.want)
        << "exact " << r.r.exact << " min " << r.r.min << " max " << r.r.max;
}

TEST(DiarizeCluster, SeparatesThreeVoices) {
  std::mt19937 rng(2);
  std::vector<GaussStats> units;
  std::vector<int> truth;
  for (int i = 0; i < 24; ++i) {
    int v = (i * 7) % 3;
    units.push_back(stats_of(voice_frames(v, 150 + 10 * (i % 5), rng)));
    truth.push_back(v);
  }
  auto clusterer = make_bic_clusterer();
  auto labels = clusterer->cluster(units, {});
  ASSERT_EQ(labels.size(), units.size());
  std::set<std::pair<int, int>> pairs;
  for (std::size_t i = 0; i < units.size(); ++i) pairs.insert({truth[i], labels[i]});
  EXPECT_EQ(pairs.size(), 3u) << "each voice is one cluster and no cluster holds two";
  auto two = clusterer->cluster(units, {2, 1, 8});
  EXPECT_EQ(*std::max_element(two.begin(), two.end()), 1);
  auto four = clusterer->cluster(units, {0, 4, 8});
  EXPECT_EQ(*std::max_element(four.begin(), four.end()), 3);
}

TEST(DiarizeCluster, PoolStaysWithinItsCapAndKeepsVoicesApart) {
  std::mt19937 rng(3);
  UnitPool pool(kDim, 4, 1.0);
  std::vector<int> ids, truth;
  for (int i = 0; i < 40; ++i) {
    int v = i % 2;
    ids.push_back(pool.add(stats_of(voice_frames(v, 120, rng))));
    truth.push_back(v);
    ASSERT_LE(pool.units().size(), 4u);
  }
  EXPECT_EQ(pool.pieces(), 40u);
  std::set<std::size_t> slots[2];
  for (std::size_t i = 0; i < ids.size(); ++i)
    slots[truth[i]].insert(pool.slot_of(ids[i]));
  for (std::size_t s : slots[0]) EXPECT_EQ(slots[1].count(s), 0u) << "a unit mixes voices";
  double frames = 0;
  for (const auto& u : pool.units()) frames += u.n;
  EXPECT_EQ(frames, 40 * 120);
}

TEST(DiarizeKnown, MatchesTheSameVoiceAndNoOther) {
  std::mt19937 rng(4);
  std::vector<GaussStats> voices = {stats_of(voice_frames(0, 2000, rng)),
                                    stats_of(voice_frames(1, 2000, rng))};
  std::vector<GaussStats> clips = {stats_of(voice_frames(1, 300, rng)),
                                   stats_of(voice_frames(2, 300, rng))};
  auto m = match_known(voices, clips, 1.0);
  EXPECT_EQ(m, (std::vector<int>{-1, 0}));
  EXPECT_LT(voice_distance(voices[1], clips[0]), 0.2);
  EXPECT_GT(voice_distance(voices[0], clips[1]), 1.0);
}

TEST(DiarizeTurns, NumbersByFirstAppearanceAndJoinsTouchingPieces) {
  std::vector<LabeledSpan> spans = {{0, 1, 5}, {1, 2, 5}, {2.5, 3, 2}, {3, 4, 7}, {4.5, 5, 5}};
  auto t = make_turns(spans, {"", "", "", "", "", "", "", "Anna"});
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0].speaker, 0);
  EXPECT_EQ(t[0].name, "Speaker 1");
  EXPECT_DOUBLE_EQ(t[0].end_s, 2.0);  // 0-1 and 1-2 joined
  EXPECT_EQ(t[1].speaker, 1);
  EXPECT_EQ(t[1].name, "Speaker 2");
  EXPECT_EQ(t[2].speaker, 2);
  EXPECT_EQ(t[2].name, "Anna");  // known names do not take a "Speaker N" number
  EXPECT_EQ(t[3].speaker, 0);
  EXPECT_EQ(t[3].name, "Speaker 1");
}

TEST(DiarizeFeatures, KeepsFramesWithin25DbOfTheLoudest) {
  std::vector<float> e = {-30.0f, -10.0f, -4.0f, -4.3f, -9.0f, -9.8f};
  EXPECT_EQ(loud_frames(e), (std::vector<bool>{false, false, true, true, true, false}));
  EXPECT_TRUE(loud_frames(std::vector<float>{}).empty());
}

TEST(DiarizeFeatures, CepstraOfSilenceHaveNoFramesAndOfAToneHaveAll) {
  auto fx = make_lfcc(16000);
  std::vector<std::int16_t> silence(16000, 0), tone(16000);
  for (std::size_t i = 0; i < tone.size(); ++i)
    tone[i] = static_cast<std::int16_t>(8000 * std::sin(0.1 * static_cast<double>(i)));
  EXPECT_EQ(fx->extract(silence).x.rows(), 0);
  Frames f = fx->extract(tone);
  EXPECT_EQ(f.x.rows(), 98);  // (16000 - 400) / 160 + 1
  EXPECT_EQ(f.x.cols(), fx->dim());
  EXPECT_TRUE(f.x.allFinite());
  EXPECT_NEAR(f.time_s[0], 0.0125, 1e-6);
}

Params with(auto&& edit) {
  Params p;
  edit(p);
  return p;
}

std::vector<std::int16_t> test_voice() {
  std::vector<std::int16_t> voice(3 * 16000);
  for (std::size_t i = 0; i < voice.size(); ++i)
    voice[i] = static_cast<std::int16_t>(6000 * std::sin(0.05 * static_cast<double>(i)) *
                                         std::sin(0.0007 * static_cast<double>(i)));
  return voice;
}

TEST(DiarizeParams, RefusesWhatCannotWorkWithAReason) {
  auto anna = known_speaker("Anna", test_voice(), 16000);
  ASSERT_TRUE(anna) << anna.error().message;
  auto named = [&](std::string name) { return KnownSpeaker{std::move(name), anna->voice, anna->sample_rate}; };
  struct Row {
    const char* what;
    Params p;
    bool ok;
  } rows[] = {
      {"defaults", Params{}, true},
      {"min 0", with([](Params& p) { p.min_speakers = 0; }), false},
      {"min > max", with([](Params& p) { p.min_speakers = 3, p.max_speakers = 2; }), false},
      {"max 33", with([](Params& p) { p.max_speakers = 33; }), false},
      {"speakers -1", with([](Params& p) { p.speakers = -1; }), false},
      {"speakers above max", with([](Params& p) { p.speakers = 9; }), false},
      {"speakers 3", with([](Params& p) { p.speakers = 3; }), true},
      {"rate 4000", with([](Params& p) { p.sample_rate = 4000; }), false},
      {"known ok", with([&](Params& p) { p.known = {*anna}; }), true},
      {"no name", with([&](Params& p) { p.known = {named("")}; }), false},
      {"twice", with([&](Params& p) { p.known = {named("A"), named("A")}; }), false},
      {"no statistics", with([&](Params& p) { p.known = {KnownSpeaker{"A", nullptr, 16000}}; }), false},
      {"clip at another rate", with([&](Params& p) { p.sample_rate = 8000, p.known = {*anna}; }), false},
  };
  for (const auto& r : rows) {
    auto d = make_diarizer(r.p);
    EXPECT_EQ(d.has_value(), r.ok) << r.what;
    if (!d) {
      EXPECT_EQ(d.error().kind, FailureKind::invalid_request) << r.what;
      EXPECT_FALSE(d.error().message.empty());
    }
  }
}

TEST(DiarizeParams, AClipWithTooLittleSpeechIsNoVoice) {
  std::vector<std::int16_t> silent(3 * 16000, 0), short_clip(16000, 100);
  for (const auto* clip : {&silent, &short_clip}) {
    auto k = known_speaker("A", *clip, 16000);
    ASSERT_FALSE(k);
    EXPECT_EQ(k.error().kind, FailureKind::invalid_request);
    EXPECT_NE(k.error().message.find("too little speech"), std::string::npos) << k.error().message;
  }
  auto ok = known_speaker("A", test_voice(), 16000);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->name, "A");
  EXPECT_GE(ok->voice->n, 100.0) << "the clip's voiced frames, counted once";
}

TEST(DiarizeContract, EmptyInputOrderAndSingleFinish) {
  auto d = make_diarizer({});
  ASSERT_TRUE(d);
  segment::Segment a{16000, std::vector<std::int16_t>(8000, 0)};
  ASSERT_TRUE((*d)->add(a));
  segment::Segment before{0, std::vector<std::int16_t>(100, 0)};
  EXPECT_FALSE((*d)->add(before)) << "speech out of order";
  auto turns = (*d)->finish();
  ASSERT_TRUE(turns);
  EXPECT_EQ(turns->size(), 1u);  // silence too short to model takes speaker 0
  EXPECT_FALSE((*d)->finish());
  EXPECT_FALSE((*d)->add(a));
  auto empty = make_diarizer({});
  auto none = (*empty)->finish();
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace soroka::diarize

namespace soroka::diarize {
namespace {

// A buzz at f0 with its harmonics, 0.5-1 amplitude at syllable rate: enough of a "voice" for
// the front end.
std::vector<std::int16_t> buzz(double f0, double seconds, int rate) {
  std::vector<std::int16_t> out(static_cast<std::size_t>(seconds * rate));
  for (std::size_t t = 0; t < out.size(); ++t) {
    double ts = static_cast<double>(t) / rate, v = 0, amp = 3000;
    for (int h = 1; h * f0 < rate / 2.0 && h <= 10; ++h, amp *= 0.7)
      v += amp * std::sin(2 * M_PI * f0 * h * ts);
    out[t] = static_cast<std::int16_t>(v * (0.75 + 0.25 * std::sin(2 * M_PI * 4 * ts)));
  }
  return out;
}

TEST(DiarizeContract, OneLongSegmentIsReadInChunksAndCoveredWhole) {
  // 5 min without a pause (nothing the segmenter would ever send, a caller might): analysed
  // 20 s at a time, and the turns cover it end to end.
  auto d = make_diarizer({});
  ASSERT_TRUE(d);
  segment::Segment s{16000 * 3, buzz(140, 300, 16000)};
  ASSERT_TRUE((*d)->add(s));
  auto turns = (*d)->finish();
  ASSERT_TRUE(turns);
  ASSERT_FALSE(turns->empty());
  EXPECT_DOUBLE_EQ(turns->front().start_s, 3.0);
  EXPECT_DOUBLE_EQ(turns->back().end_s, 303.0);
  for (std::size_t i = 1; i < turns->size(); ++i)
    EXPECT_LE((*turns)[i - 1].end_s, (*turns)[i].start_s + 1e-9) << "turns overlap";
  EXPECT_EQ(turns->size(), 1u) << "one steady voice is one turn";
}

TEST(DiarizeContract, EightKilohertzInputWorks) {
  Params p;
  p.sample_rate = 8000;
  auto d = make_diarizer(p);
  ASSERT_TRUE(d);
  std::int64_t at = 0;
  for (int i = 0; i < 12; ++i) {
    segment::Segment s{at, buzz(i % 2 ? 220 : 110, 3, 8000)};
    ASSERT_TRUE((*d)->add(s));
    at += 4 * 8000;
  }
  auto turns = (*d)->finish();
  ASSERT_TRUE(turns);
  ASSERT_EQ(turns->size(), 12u);
  EXPECT_DOUBLE_EQ((*turns)[1].start_s, 4.0);
  std::set<int> speakers;
  for (std::size_t i = 0; i < turns->size(); ++i) {
    speakers.insert((*turns)[i].speaker);
    EXPECT_EQ((*turns)[i].speaker, (*turns)[i % 2].speaker) << i;
  }
  EXPECT_EQ(speakers.size(), 2u);
}

}  // namespace
}  // namespace soroka::diarize

// The minimum-duration Viterbi on hand-made score tables: what it keeps, what it smooths away,
// and that its answer is the best allowed labelling (checked by brute force).
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "diarize/viterbi.h"

namespace soroka::diarize {
namespace {

// Scores from a string of preferred speakers: frame t prefers speaker s[t] by `margin`.
Eigen::MatrixXd prefer(const std::string& s, int speakers, double margin = 1.0) {
  Eigen::MatrixXd x = Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(s.size()), speakers);
  for (std::size_t t = 0; t < s.size(); ++t) x(static_cast<Eigen::Index>(t), s[t] - '0') = margin;
  return x;
}

std::string str(const std::vector<int>& v) {
  std::string out;
  for (int x : v) out += static_cast<char>('0' + x);
  return out;
}

struct Case {
  const char* name;
  std::string preferred;
  int speakers, min_frames;
  double penalty;
  std::string expected;
};

TEST(DiarizeViterbi, FollowsTheScoresWithinTheDurationAndSwitchRules) {
  const Case cases[] = {
      {"free: follows every frame", "0011010", 2, 1, 0.0, "0011010"},
      {"a one-frame blip under min 3 is absorbed", "0000100000", 2, 3, 0.0, "0000000000"},
      {"a three-frame turn at min 3 stays", "0000111000", 2, 3, 0.0, "0000111000"},
      {"two frames gain 2, under two switches at 1.2", "0000110000", 2, 1, 1.2, "0000000000"},
      {"three frames gain 3, over two switches at 1.2", "0000111000", 2, 1, 1.2, "0000111000"},
      {"short turns at the ends are allowed", "1000000002", 3, 4, 0.0, "1000000002"},
      {"three speakers", "000011112222", 3, 3, 0.5, "000011112222"},
      {"one speaker", "00000", 1, 3, 1.0, "00000"},
      {"one frame", "1", 2, 5, 1.0, "1"},
      {"shorter than min: one speaker or the ends", "01", 2, 5, 0.0, "01"},
  };
  for (const auto& c : cases) {
    auto got = viterbi_min_duration(prefer(c.preferred, c.speakers), {c.min_frames, c.penalty});
    EXPECT_EQ(str(got), c.expected) << c.name;
  }
  EXPECT_TRUE(viterbi_min_duration(Eigen::MatrixXd(0, 2), {}).empty());
  EXPECT_TRUE(viterbi_min_duration(Eigen::MatrixXd(4, 0), {}).empty());
}

// Inner turns (not touching either end) at least `min` frames long.
bool allowed(const std::vector<int>& l, int min) {
  std::size_t start = 0;
  for (std::size_t t = 1; t <= l.size(); ++t) {
    if (t < l.size() && l[t] == l[start]) continue;
    if (start > 0 && t < l.size() && static_cast<int>(t - start) < min) return false;
    start = t;
  }
  return true;
}

double value(const Eigen::MatrixXd& x, const std::vector<int>& l, double pen) {
  double v = 0;
  for (std::size_t t = 0; t < l.size(); ++t) {
    v += x(static_cast<Eigen::Index>(t), l[t]);
    if (t > 0 && l[t] != l[t - 1]) v -= pen;
  }
  return v;
}

TEST(DiarizeViterbi, FindsTheBestAllowedLabellingOnRandomScores) {
  std::mt19937 rng(7);
  std::normal_distribution<double> g(0, 1);
  for (int trial = 0; trial < 40; ++trial) {
    const int frames = 3 + trial % 7, speakers = 2 + trial % 2, min = 1 + trial % 4;
    const double pen = 0.5 * (trial % 3);
    Eigen::MatrixXd x(frames, speakers);
    for (int t = 0; t < frames; ++t)
      for (int s = 0; s < speakers; ++s) x(t, s) = g(rng);
    double best = -1e300;
    std::vector<int> l(static_cast<std::size_t>(frames), 0);
    for (;;) {  // every labelling, as a counter in base `speakers`
      if (allowed(l, min)) best = std::max(best, value(x, l, pen));
      std::size_t i = 0;
      while (i < l.size() && ++l[i] == speakers) l[i++] = 0;
      if (i == l.size()) break;
    }
    auto got = viterbi_min_duration(x, {min, pen});
    ASSERT_EQ(got.size(), static_cast<std::size_t>(frames));
    EXPECT_TRUE(allowed(got, min)) << "trial " << trial << ": " << str(got);
    EXPECT_NEAR(value(x, got, pen), best, 1e-9) << "trial " << trial << ": " << str(got);
  }
}

}  // namespace
}  // namespace soroka::diarize

// The DER scorer on hand-made cases whose errors are worked out in the comments, the
// Hungarian mapping against brute force, and the RTTM reader's errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "diarize/der.h"

namespace soroka::diarize {
namespace {

std::vector<RttmTurn> T(std::initializer_list<std::tuple<double, double, const char*>> xs) {
  std::vector<RttmTurn> out;
  for (auto [a, b, s] : xs) out.push_back({a, b - a, s});
  return out;
}

struct Case {
  const char* what;
  std::vector<RttmTurn> ref, hyp;
  double collar, missed, fa, confusion, scored;
};

TEST(Der, HandComputedCases) {
  std::vector<Case> cases = {
      // Names differ but the mapping pairs them: no error.
      {"renamed", T({{0, 10, "A"}, {10, 20, "B"}}), T({{0, 10, "x"}, {10, 20, "y"}}), 0.25, 0, 0,
       0, 19.0},
      // 0.2 s of overhang inside the 0.25 s collar is not scored; without a collar it is FA.
      {"collar hides", T({{0, 10, "A"}}), T({{0, 10.2, "x"}}), 0.25, 0, 0, 0, 9.5},
      {"no collar", T({{0, 10, "A"}}), T({{0, 10.2, "x"}}), 0.0, 0, 0.2, 0, 10.0},
      // B (12-22) never found: 9.5 s missed of 19 scored (collars at 0, 10, 12, 22).
      {"missed", T({{0, 10, "A"}, {12, 22, "B"}}), T({{0, 10, "x"}}), 0.25, 9.5, 0, 0, 19.0},
      // x runs 5 s into B: A->x, B->y, and B's 10.25-15 under x is confusion (4.75 s).
      {"confusion", T({{0, 10, "A"}, {10, 20, "B"}}), T({{0, 15, "x"}, {15, 20, "y"}}), 0.25, 0,
       0, 4.75, 19.0},
      // One hypothesis voice cannot stand for two reference voices.
      {"one-to-one", T({{0, 10, "A"}, {20, 30, "B"}}), T({{0, 10, "x"}, {20, 30, "x"}}), 0.25, 0,
       0, 9.5, 19.0},
      // Overlap: 5.25-9.75 has two reference voices and one hypothesis voice: 4.5 s missed,
      // scored 4.5 (A alone) + 2 x 4.5 (A and B).
      {"overlap", T({{0, 10, "A"}, {5, 10, "B"}}), T({{0, 10, "x"}}), 0.25, 4.5, 0, 0, 13.5},
      // Speech where the reference has none: 2 s false alarm.
      {"false alarm", T({{0, 10, "A"}}), T({{0, 10, "x"}, {15, 17, "y"}}), 0.25, 0, 2.0, 0, 9.5},
      {"empty hyp", T({{0, 10, "A"}}), {}, 0.25, 9.5, 0, 0, 9.5},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    DerScore s = score_der(c.ref, c.hyp, c.collar);
    EXPECT_NEAR(s.scored_s, c.scored, 1e-9);
    EXPECT_NEAR(s.missed_s, c.missed, 1e-9);
    EXPECT_NEAR(s.false_alarm_s, c.fa, 1e-9);
    EXPECT_NEAR(s.confusion_s, c.confusion, 1e-9);
  }
  EXPECT_NEAR(score_der(T({{0, 10, "A"}, {10, 20, "B"}}), T({{0, 15, "x"}, {15, 20, "y"}})).der(),
              4.75 / 19.0, 1e-9);
}

double brute_force(const std::vector<std::vector<double>>& w) {
  std::size_t rows = w.size(), cols = w[0].size();
  std::vector<int> perm(std::max(rows, cols));
  std::iota(perm.begin(), perm.end(), 0);
  double best = 0;
  do {
    double sum = 0;
    for (std::size_t r = 0; r < rows; ++r)
      if (static_cast<std::size_t>(perm[r]) < cols) sum += w[r][static_cast<std::size_t>(perm[r])];
    best = std::max(best, sum);
  } while (std::next_permutation(perm.begin(), perm.end()));
  return best;
}

TEST(Der, HungarianMatchesBruteForce) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0, 10);
  for (auto [rows, cols] : {std::pair{3, 3}, {2, 5}, {5, 2}, {6, 6}, {1, 4}}) {
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<std::vector<double>> w(static_cast<std::size_t>(rows),
                                         std::vector<double>(static_cast<std::size_t>(cols)));
      for (auto& r : w)
        for (auto& x : r) x = u(rng);
      std::vector<int> m = max_weight_assignment(w);
      double sum = 0;
      std::vector<bool> used(static_cast<std::size_t>(cols), false);
      for (std::size_t r = 0; r < m.size(); ++r) {
        if (m[r] < 0) continue;
        auto c = static_cast<std::size_t>(m[r]);
        ASSERT_FALSE(used[c]) << "column used twice";
        used[c] = true;
        sum += w[r][c];
      }
      EXPECT_NEAR(sum, brute_force(w), 1e-9) << rows << "x" << cols;
    }
  }
}

TEST(Der, ReadsRttmAndRejectsMalformedLines) {
  auto ok = parse_rttm(
      "# comment\n\nSPEAKER f 1 0.50 2.25 <NA> <NA> Speaker_1 <NA> <NA>\n"
      "SPKR-INFO f 1 <NA> <NA> <NA> unknown Speaker_1 <NA> <NA>\n"
      "SPEAKER f 1 3 1 <NA> <NA> Anna <NA> <NA>\n");
  ASSERT_TRUE(ok) << ok.error().message;
  ASSERT_EQ(ok->size(), 2u);
  EXPECT_DOUBLE_EQ((*ok)[0].start_s, 0.5);
  EXPECT_DOUBLE_EQ((*ok)[0].dur_s, 2.25);
  EXPECT_EQ((*ok)[1].speaker, "Anna");
  for (const char* bad : {"SPEAKER f 1 x 1 <NA> <NA> A\n", "SPEAKER f 1 1 -2 <NA> <NA> A\n",
                          "SPEAKER f 1 1 2\n", "SPEAKER f 1 1e300 1 <NA> <NA> A\n"}) {
    auto r = parse_rttm(std::string("SPEAKER f 1 0 1 <NA> <NA> A\n") + bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("line 2"), std::string::npos) << r.error().message;
  }
}

}  // namespace
}  // namespace soroka::diarize

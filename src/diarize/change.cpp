// Sliding-window BIC change detection: score every candidate, keep the best local peaks.
#include "diarize/change.h"

#include <algorithm>
#include <cmath>

#include "diarize/gauss.h"

namespace soroka::diarize {

namespace {

struct Scored {
  Eigen::Index at;
  double score;
};

// Delta-BIC of splitting [from, to) at t: positive means two voices explain it better.
double split_score(const Eigen::MatrixXf& x, Eigen::Index from, Eigen::Index t, Eigen::Index to,
                   double lambda) {
  GaussStats l(static_cast<int>(x.cols())), r(static_cast<int>(x.cols()));
  l.add_rows(x, from, t);
  r.add_rows(x, t, to);
  double penalty = 0.5 * gauss_params(l.dim()) * std::log(static_cast<double>(to - from));
  return merge_cost(l, r) - lambda * penalty;
}

}  // namespace

std::vector<Eigen::Index> detect_changes(const Eigen::MatrixXf& frames, const ChangeParams& p) {
  Eigen::Index n = frames.rows();
  std::vector<Scored> cand;
  for (Eigen::Index t = p.min_side; t + p.min_side <= n; t += p.step) {
    Eigen::Index from = std::max<Eigen::Index>(0, t - p.window);
    Eigen::Index to = std::min<Eigen::Index>(n, t + p.window);
    double s = split_score(frames, from, t, to, p.lambda);
    if (s > 0) cand.push_back({t, s});
  }
  // Strongest first; a candidate within min_side of a kept one is the same change.
  std::sort(cand.begin(), cand.end(), [](const Scored& a, const Scored& b) {
    return a.score > b.score;
  });
  std::vector<Eigen::Index> kept;
  for (const auto& c : cand) {
    bool near = std::any_of(kept.begin(), kept.end(), [&](Eigen::Index k) {
      return std::abs(k - c.at) < p.min_side;
    });
    if (!near) kept.push_back(c.at);
  }
  std::sort(kept.begin(), kept.end());
  return kept;
}

}  // namespace soroka::diarize

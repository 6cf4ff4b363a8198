// Sliding-window BIC change detection: score every candidate, keep the best local peaks.
#include "diarize/change.h"

#include <algorithm>
#include <cmath>

#include "diarize/gauss.h"

namespace soroka::diarize {

namespace {

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

// Greedy: accept the best-scoring candidate, then rescore its neighbours with windows that
// stop at the accepted changes, so one change is not found again from either side.
std::vector<Eigen::Index> detect_changes(const Eigen::MatrixXf& frames, const ChangeParams& p) {
  Eigen::Index n = frames.rows();
  std::vector<Eigen::Index> cand, cuts;
  for (Eigen::Index t = p.min_side; t + p.min_side <= n; t += p.step) cand.push_back(t);
  auto eval = [&](Eigen::Index t) {
    Eigen::Index lo = std::max<Eigen::Index>(0, t - p.window);
    Eigen::Index hi = std::min<Eigen::Index>(n, t + p.window);
    for (Eigen::Index c : cuts) {
      if (c <= t) lo = std::max(lo, c);
      if (c >= t) hi = std::min(hi, c);
    }
    if (t - lo < p.min_side || hi - t < p.min_side) return -1.0;
    return split_score(frames, lo, t, hi, p.lambda);
  };
  std::vector<double> score(cand.size());
  for (std::size_t i = 0; i < cand.size(); ++i) score[i] = eval(cand[i]);
  for (;;) {
    auto best = std::max_element(score.begin(), score.end());
    if (best == score.end() || *best <= 0) break;
    Eigen::Index t = cand[static_cast<std::size_t>(best - score.begin())];
    cuts.push_back(t);
    for (std::size_t i = 0; i < cand.size(); ++i)
      if (std::abs(cand[i] - t) < p.window + p.min_side) score[i] = eval(cand[i]);
  }
  std::sort(cuts.begin(), cuts.end());
  return cuts;
}

}  // namespace soroka::diarize

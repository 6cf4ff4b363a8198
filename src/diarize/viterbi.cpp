// Viterbi over a duration-expanded topology: each speaker is a chain of min_frames states; a
// turn enters at the chain's head, walks it, and may stay or leave only at its tail.
#include "diarize/viterbi.h"

#include <algorithm>
#include <limits>

namespace soroka::diarize {

namespace {

constexpr double kNone = -std::numeric_limits<double>::infinity();

// Back pointers of one frame: for each speaker, who spoke before its head was entered, and
// whether its tail was reached by staying (true) or from the state before it.
struct Back {
  std::vector<int> entered_from;
  std::vector<char> tail_stayed;
};

// The best tail among all speakers but `s`, as (score, speaker); lowest index on ties.
std::pair<double, int> best_other_tail(const Eigen::MatrixXd& d, Eigen::Index s) {
  double best = kNone;
  int who = -1;
  for (Eigen::Index r = 0; r < d.rows(); ++r)
    if (r != s && d(r, d.cols() - 1) > best) best = d(r, d.cols() - 1), who = static_cast<int>(r);
  return {best, who};
}

// One frame forward: d(s, j) is the best score of a path in state j of speaker s's chain.
void step(const Eigen::MatrixXd& prev, Eigen::MatrixXd& next, const Eigen::RowVectorXd& x,
          double penalty, Back& back) {
  const Eigen::Index k = prev.rows(), m = prev.cols();
  for (Eigen::Index s = 0; s < k; ++s) {
    auto [enter, from] = best_other_tail(prev, s);
    enter -= penalty;
    back.entered_from[static_cast<std::size_t>(s)] = from;
    for (Eigen::Index j = m - 1; j >= 1; --j) next(s, j) = prev(s, j - 1);
    next(s, 0) = enter;
    // The tail either stays or is reached from the state before it (the head when m == 1).
    double stay = prev(s, m - 1), arrive = m > 1 ? prev(s, m - 2) : enter;
    back.tail_stayed[static_cast<std::size_t>(s)] = stay >= arrive ? 1 : 0;
    next(s, m - 1) = std::max(stay, arrive);
    next.row(s).array() += x(s);
  }
}

}  // namespace

std::vector<int> viterbi_min_duration(const Eigen::MatrixXd& scores, const ViterbiParams& p) {
  const Eigen::Index t_count = scores.rows(), k = scores.cols();
  if (t_count == 0 || k == 0) return {};
  const Eigen::Index m = std::max(1, p.min_frames);
  // The first turn may have begun before the stretch: any state of any chain may start it.
  Eigen::MatrixXd d = scores.row(0).transpose().replicate(1, m), next(k, m);
  std::vector<Back> back(static_cast<std::size_t>(t_count));
  for (Eigen::Index t = 1; t < t_count; ++t) {
    auto& b = back[static_cast<std::size_t>(t)];
    b.entered_from.assign(static_cast<std::size_t>(k), -1);
    b.tail_stayed.assign(static_cast<std::size_t>(k), 1);
    step(d, next, scores.row(t), p.switch_penalty, b);
    std::swap(d, next);
  }
  // The last turn may go on after the stretch: any state may end it.
  Eigen::Index s = 0, j = 0;
  d.maxCoeff(&s, &j);
  std::vector<int> out(static_cast<std::size_t>(t_count));
  for (Eigen::Index t = t_count - 1; t >= 0; --t) {
    out[static_cast<std::size_t>(t)] = static_cast<int>(s);
    if (t == 0) break;
    const auto& b = back[static_cast<std::size_t>(t)];
    if (j == m - 1 && b.tail_stayed[static_cast<std::size_t>(s)]) continue;
    if (j > 0) {
      --j;
      continue;
    }
    s = b.entered_from[static_cast<std::size_t>(s)];  // the head: the previous speaker's tail
    j = m - 1;
  }
  return out;
}

}  // namespace soroka::diarize

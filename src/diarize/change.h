// Speaker-change detection inside one stretch of speech: a sliding BIC test between the
// frames before and after each candidate point.
#pragma once

#include <Eigen/Core>
#include <vector>

namespace soroka::diarize {

struct ChangeParams {
  int window = 100;     // frames on each side at most (1 s of kept frames)
  int min_side = 50;    // frames on each side at least; also the shortest piece (0.5 s)
  int step = 5;         // candidate points every 50 ms
  double lambda = 1.0;  // BIC penalty weight
};

// Row indices where a new speaker starts, increasing, each at least min_side from the ends
// and from each other. Pure: a function of the frames only.
std::vector<Eigen::Index> detect_changes(const Eigen::MatrixXf& frames, const ChangeParams& p);

}  // namespace soroka::diarize

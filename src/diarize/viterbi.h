// Frame-level resegmentation: the most likely speaker per frame under per-speaker scores, with
// a minimum duration for every speaker turn and a cost for each change. Pure.
#pragma once

#include <Eigen/Core>
#include <vector>

namespace soroka::diarize {

struct ViterbiParams {
  // Frames a turn lasts at least once it is entered. Turns cut by the ends of the stretch (the
  // first and the last) may be shorter: a stretch is a window on longer speech.
  int min_frames = 1;
  // Log-likelihood a change of speaker costs on top of the scores (>= 0).
  double switch_penalty = 0;
};

// scores(t, s): log-likelihood of frame t under speaker s. Returns one speaker per frame
// (empty for no frames), maximising the sum of the frames' scores minus switch_penalty per
// change, among the labellings whose inner turns last at least min_frames. Ties go to the
// lower speaker index. Memory: frames x speakers ints for the back pointers, plus
// speakers x min_frames doubles. Time: frames x speakers x min_frames.
std::vector<int> viterbi_min_duration(const Eigen::MatrixXd& scores, const ViterbiParams& p);

}  // namespace soroka::diarize

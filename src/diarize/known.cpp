// Greedy one-to-one matching of found voices to the reference clips, with a threshold.
#include "diarize/known.h"

#include <algorithm>
#include <cmath>
#include <tuple>

namespace soroka::diarize {

double voice_distance(const GaussStats& voice, const GaussStats& clip) {
  const double n = voice.n + clip.n;
  return merge_cost(voice, clip) / (0.5 * gauss_params(voice.dim()) * std::log(std::max(2.0, n)));
}

std::vector<int> match_known(const std::vector<GaussStats>& clusters,
                             const std::vector<GaussStats>& clips, double threshold) {
  std::vector<std::tuple<double, std::size_t, std::size_t>> pairs;
  for (std::size_t c = 0; c < clusters.size(); ++c)
    for (std::size_t k = 0; k < clips.size(); ++k) {
      double d = voice_distance(clusters[c], clips[k]);
      if (d <= threshold) pairs.emplace_back(d, c, k);
    }
  std::sort(pairs.begin(), pairs.end());
  std::vector<int> out(clusters.size(), -1);
  std::vector<bool> used(clips.size(), false);
  for (auto [d, c, k] : pairs) {
    if (out[c] >= 0 || used[k]) continue;
    out[c] = static_cast<int>(k);
    used[k] = true;
  }
  return out;
}

}  // namespace soroka::diarize

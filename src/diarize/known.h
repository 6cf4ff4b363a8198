// Known speakers: which found voice, if any, is the voice of each reference clip.
#pragma once

#include <vector>

#include "diarize/gauss.h"

namespace soroka::diarize {

// How far a clip is from a found voice, in units of the BIC penalty the clustering weighs a
// speaker against: the likelihood lost by modelling both with one Gaussian, over
// 0.5 * params * log(frames of both). Under 1 the textbook BIC (as the unit pool's merges)
// would call them one voice; ~0 for the same voice.
double voice_distance(const GaussStats& voice, const GaussStats& clip);

// For each cluster, the index of the clip it is matched with, or -1. One-to-one, closest
// pairs first; a pair further apart than `threshold` is no match (the voice stays unnamed).
std::vector<int> match_known(const std::vector<GaussStats>& clusters,
                             const std::vector<GaussStats>& clips, double threshold);

}  // namespace soroka::diarize

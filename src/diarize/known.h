// Known speakers: which found voice, if any, is the voice of each reference clip.
#pragma once

#include <vector>

#include "diarize/gauss.h"

namespace soroka::diarize {

// Per-frame likelihood lost by modelling a voice and a clip as one Gaussian: ~0 for the
// same voice, larger the more they differ.
double voice_distance(const GaussStats& voice, const GaussStats& clip);

// For each cluster, the index of the clip it is matched with, or -1. One-to-one, closest
// pairs first; a pair further apart than `threshold` is no match (the voice stays unnamed).
std::vector<int> match_known(const std::vector<GaussStats>& clusters,
                             const std::vector<GaussStats>& clips, double threshold);

}  // namespace soroka::diarize

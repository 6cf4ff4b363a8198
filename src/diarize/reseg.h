// The resegmentation pass: the input read a second time, stretch by stretch as the first pass
// cut it, each stretch's frames scored against the found speakers' models and labelled by the
// minimum-duration Viterbi. Holds one stretch at a time.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "diarize/diarizer.h"
#include "diarize/features.h"
#include "diarize/gauss.h"
#include "diarize/turns.h"
#include "diarize/viterbi.h"

namespace soroka::diarize {

// A stretch of speech as the first pass analysed it: where it is in the input, and how many
// frames it kept (the second pass must see the same audio: a count that differs means the
// input changed in between).
struct Stretch {
  std::int64_t start_sample = 0;
  std::int32_t samples = 0;
  std::int32_t kept_frames = 0;
};

// Samples per read from the input: 0.5 s at 16 kHz, as the pipeline's decoder reads.
inline constexpr std::size_t kReplayBlock = 8192;

struct ResegParams {
  ViterbiParams viterbi;
  // A stretch with fewer kept frames than this is not relabelled (span cluster -1: the caller
  // keeps the first pass's speaker there).
  int min_frames = 30;
  int sample_rate = 16000;
};

// Per-frame log-likelihoods (constants dropped) of `x`'s rows under each model: frames x models.
Eigen::MatrixXd frame_scores(const Eigen::MatrixXf& x, const std::vector<GaussModel>& models);

// Spans covering every stretch in order, each labelled with a model's index (-1: left to the
// caller). Changes fall midway between the kept frames on either side. An error (the input
// unreadable, shorter than the stretches, or different from what the first pass read) means
// the caller keeps the first pass's turns.
Result<std::vector<LabeledSpan>> resegment(AudioReplay& input, std::span<const Stretch> stretches,
                                           FeatureExtractor& fx,
                                           const std::vector<GaussModel>& models,
                                           const ResegParams& p);

// Spans of one stretch from its frames' labels (pure, for the tests): times relative to the
// stretch's start, which begins the first span; `end_s` ends the last.
std::vector<LabeledSpan> spans_of(const std::vector<int>& labels, const std::vector<float>& time_s,
                                  double start_s, double end_s);

}  // namespace soroka::diarize

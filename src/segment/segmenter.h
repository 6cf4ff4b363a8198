// Voice-activity detection and segmentation: skips silence, cuts speech at pauses into
// segments of bounded length.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

namespace soroka::segment {

struct SegmenterParams {
  double max_segment_s = 20.0;  // a segment never exceeds this; cut at the best pause before
  double min_silence_s = 0.3;   // a pause at least this long ends a segment
  double min_speech_s = 0.2;    // shorter bursts are dropped as noise
  double pad_s = 0.2;           // context kept on both sides of speech
  int sample_rate = 16000;
};

struct Segment {
  std::int64_t start_sample = 0;      // from the start of the stream
  std::vector<std::int16_t> samples;  // mono, sample_rate
  double start_s(int rate = 16000) const { return static_cast<double>(start_sample) / rate; }
  double end_s(int rate = 16000) const {
    return static_cast<double>(start_sample + static_cast<std::int64_t>(samples.size())) / rate;
  }
};

using SegmentSink = std::function<void(Segment&&)>;

// Memory is bounded by max_segment_s plus a small lookahead, whatever the input length.
// Not thread-safe.
class Segmenter {
 public:
  // Out-of-range parameters are clamped (max_segment_s to >= 1 s and >= 2 pad_s + 0.5 s).
  explicit Segmenter(SegmenterParams p = {});
  Segmenter(Segmenter&&) noexcept;
  Segmenter& operator=(Segmenter&&) noexcept;
  ~Segmenter();
  // Any chunk size; segments are passed to sink as soon as they are decided, in order, with
  // increasing, non-overlapping sample ranges.
  void push(std::span<const std::int16_t> pcm, const SegmentSink& sink);
  void finish(const SegmentSink& sink);  // flushes the last segment; the segmenter starts over
  // Samples held right now (audio of the open segment plus lookahead); for tests and metrics.
  std::size_t buffered_samples() const noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace soroka::segment

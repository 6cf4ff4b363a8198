// transcribe_file: admission, probe, streaming decode -> segmenter -> engine -> stages.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "media/decoder.h"
#include "oomguard/admission.h"
#include "pipeline/transcript.h"
#include "segment/segmenter.h"
#include "util/result.h"

namespace soroka::pipeline {

// What a stage is told of the input it is made for.
struct StageInput {
  double duration_s = 0;  // the known duration, else the container's; 0 when neither says
  // The file being transcribed: a stage may read it again once the first reading is over
  // (diarization's resegmentation pass; the transcription's own decoder is closed by then).
  std::string path;
  media::DecodeLimits decode;  // what bounded the first reading, to bound a second one likewise
};
using StageFactory = std::function<Result<std::unique_ptr<engine::Stage>>(const StageInput& input)>;

struct TranscribeOptions {
  std::string language = "en";
  oomguard::AdmissionParams admission;
  // What the process may still use now (the monitor's latest snapshot) and the floor kept
  // free; admission refuses a file whose estimated cost does not fit between them.
  std::uint64_t available_bytes = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t min_available_bytes = 0;
  media::DecodeLimits decode;
  // max_segment_s is lowered to the engine's own maximum when that is shorter.
  segment::SegmenterParams segmenter;
  // The input's duration as an earlier probe found it (the service's probe child), 0 when
  // unknown. When known, admission uses it and the file is opened once, to decode; when not,
  // opening the decoder is the probe. Either way one open per transcription.
  double known_duration_s = 0;
  // Cheaper settings after an OOM kill: segments halve per level (20 -> 10 -> 5 s, at most
  // twice) and the engine is told (SessionParams::degrade).
  int degrade = 0;
  // Each transcription gets fresh stages from these factories, run in this order; a factory
  // is given the input (StageInput) and may refuse (its memory not reserved, its parameters wrong): the transcription fails.
  std::vector<StageFactory> stages;
  // The working memory the stages add for an input of this many seconds (diarization's), in
  // admission's estimate. May be empty: none.
  std::function<std::uint64_t(double duration_s)> stage_bytes;
  // Requesting a stop makes transcribe_file return ECANCELED at the next chunk.
  std::stop_token stop;
};

inline TranscribeOptions default_options() { return {}; }

// Called with the seconds of audio processed so far and the total (the known duration, else
// the container's, 0 when neither says); done never decreases and ends at the decoded
// duration. The same figures come again while the engine works on a long segment and says
// so (SessionParams::still_working): a sign of life for a watchdog.
using ProgressCallback = std::function<void(double done_s, double total_s)>;

// The transcript grows with the audio: ~3 words/s at ~80 B per Word (with its string) plus
// segment text, and the JSON rendering at the end (~120 B per word). The one figure for the
// CLI's admission and the service's job sizing.
inline constexpr std::uint64_t kTranscriptBytesPerSecond = 1024;
constexpr std::uint64_t transcript_bytes(double duration_s) {
  return duration_s > 0 ? static_cast<std::uint64_t>(duration_s * kTranscriptBytesPerSecond) : 0;
}

// The memory cost of transcribing `duration_s` seconds with `cost` from the engine and
// `stage_bytes` for the stages (TranscribeOptions::stage_bytes); what admission compares with
// the free memory. Pure; exposed for tests and the server.
std::uint64_t estimate_cost(const engine::MemoryCost& cost, double duration_s,
                            const segment::SegmenterParams& seg, std::uint64_t stage_bytes = 0);

// Transcribes one file. Memory stays bounded by one segment plus the transcript, whatever
// the input's length. Errors are user-facing and do not repeat the path ("file not found",
// "not a media file", "language 'fr' is not supported by pocketsphinx (supported: en)"), and
// carry their FailureKind: the media's (unsupported_media, invalid_input), invalid_request
// for a language the engine refuses, too_big for a file over admission's size limit,
// internal for our own trouble (ENOMEM, EIO, not enough memory now, cancelled).
// Thread-safe as long as `engine` is; runs on the calling thread.
Result<Transcript> transcribe_file(engine::Engine& engine, const std::string& path,
                                   const TranscribeOptions& options,
                                   const ProgressCallback& progress = {});

}  // namespace soroka::pipeline

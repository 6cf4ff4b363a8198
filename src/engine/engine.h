// The speech-recognition engine interface: pocketsphinx today, Whisper servers later.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "segment/segmenter.h"
#include "util/result.h"

namespace soroka::engine {

struct Word {
  double start_s = 0, end_s = 0;  // absolute, from the start of the input
  std::string text;
  std::optional<double> confidence;
};

struct SegmentText {
  double start_s = 0, end_s = 0;
  std::string text;
  std::vector<Word> words;  // empty when the engine gives no word timings
  std::optional<std::string> speaker;  // filled by a diarization stage, later
};

struct SessionParams {
  std::string language = "en";
};

// One transcription in progress: fed segment by segment, in order. Not thread-safe.
class Session {
 public:
  virtual ~Session() = default;
  virtual Result<SegmentText> transcribe(const segment::Segment& seg) = 0;
};

// An engine: loads its model (through oomguard's ModelRegistry) and opens sessions.
// Thread-safe: start() may be called from several jobs.
class Engine {
 public:
  virtual ~Engine() = default;
  virtual std::string name() const = 0;  // "pocketsphinx"
  virtual std::vector<std::string> languages() const = 0;
  virtual Result<std::unique_ptr<Session>> start(const SessionParams& p) = 0;
};

}  // namespace soroka::engine

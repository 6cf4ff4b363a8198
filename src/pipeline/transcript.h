// Transcript: what a transcription produces, independent of the output format.
#pragma once

#include <string>
#include <vector>

#include "engine/engine.h"

namespace soroka::pipeline {

struct Transcript {
  std::string file;       // as the user named it
  double duration_s = 0;  // of the decoded audio
  std::string language;
  std::string engine;     // "pocketsphinx"
  // In time order; start_s <= end_s, all within [0, duration_s]. Segments without text are
  // left out.
  std::vector<engine::SegmentText> segments;

  // All segment texts joined by single spaces.
  std::string text() const;
};

}  // namespace soroka::pipeline

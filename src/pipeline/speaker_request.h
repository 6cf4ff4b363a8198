// Diarization as a user asks for it (counts, known voices by name and clip file): one type for
// every front end, the stored job params and the worker's job line.
#pragma once

#include <string>
#include <vector>

namespace soroka::pipeline {

struct KnownClip {
  std::string name;  // "Anna"
  std::string path;  // a media file with only that voice
  bool operator==(const KnownClip&) const = default;
};

// As the user gave them; 0 means not given. Checked by speaker_params (speaker_options.h).
struct SpeakerRequest {
  int speakers = 0, min_speakers = 0, max_speakers = 0;
  std::vector<KnownClip> known;
  bool operator==(const SpeakerRequest&) const = default;
};

}  // namespace soroka::pipeline

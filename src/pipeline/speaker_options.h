// What a user asks of diarization (how many speakers, known voices by name and clip), checked
// once for every front end, and the known voices' clips decoded for the diarizer.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <utility>
#include <vector>

#include "diarize/diarizer.h"
#include "util/result.h"

namespace soroka::pipeline {

// At most this many known voices a request: each clip is decoded whole into memory (60 s at
// 16 kHz is 1.9 MB), so 10 bound that to 19 MB; OpenAI's own limit is 4.
inline constexpr std::size_t kMaxKnownSpeakers = 10;
// A clip's audio beyond this is refused: a voice is told in seconds (OpenAI asks for 2-10 s),
// and the bound keeps a clip's samples small next to the worker's memory.
inline constexpr double kMaxClipS = 60;
// The largest speakers / max_speakers a request may name: more voices than this in one
// recording is a crowd, not a conversation, and the clustering's cost grows with it.
inline constexpr int kMaxSpeakerCount = 32;
// A known voice's name: shown in every output, so short and printable.
inline constexpr std::size_t kMaxSpeakerName = 64;

struct KnownClip {
  std::string name;  // "Anna"
  std::string path;  // a media file with only that voice
};

// As the user gave them; 0 means not given.
struct SpeakerRequest {
  int speakers = 0, min_speakers = 0, max_speakers = 0;
  std::vector<KnownClip> known;
};

// Pure. The diarizer's params (without the clips' samples) or what is wrong, as a sentence for
// a 400 or a usage error naming the option: a count out of 1..kMaxSpeakerCount, min above max,
// speakers outside min..max, more than kMaxKnownSpeakers clips, an empty, over-long, repeated
// or unprintable name, a name without a clip. Defaults: min 1, max the diarizer's 8, raised
// to speakers or min when those are larger.
std::expected<diarize::Params, std::string> speaker_params(const SpeakerRequest& r);

// "Anna=anna.ogg" -> {"Anna", "anna.ogg"} (the name ends at the first '='); nullopt when the
// name or the path is empty.
std::optional<KnownClip> parse_speaker_arg(std::string_view arg);

// Decodes a clip to the diarizer's samples (16 kHz mono), refusing one longer than kMaxClipS
// or with no audio. Errors are invalid_request and name the speaker ("the clip of 'Anna':
// not a media file").
Result<std::vector<std::int16_t>> load_clip(const KnownClip& clip);

// The params with every known voice's clip loaded.
Result<diarize::Params> load_known(diarize::Params params, const std::vector<KnownClip>& known);

}  // namespace soroka::pipeline

// What a user asks of diarization (how many speakers, known voices by name and clip), checked
// once for every front end, and the known voices' clips decoded for the diarizer.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <utility>
#include <vector>

#include "diarize/diarizer.h"
#include "pipeline/speaker_request.h"
#include "util/result.h"

namespace soroka::pipeline {

// At most this many known voices a request: each clip is decoded whole into memory, one at a
// time (60 s at 16 kHz is 1.9 MB), and only its statistics are kept; OpenAI's own limit is 4.
inline constexpr std::size_t kMaxKnownSpeakers = 10;
// A clip's audio beyond this is refused: a voice is told in seconds (OpenAI asks for 2-10 s),
// and the bound keeps a clip's samples small next to the worker's memory.
inline constexpr double kMaxClipS = 60;
// A known voice's name: shown in every output, so short and printable.
inline constexpr std::size_t kMaxSpeakerName = 64;

// Pure. The diarizer's params (without the known voices) or what is wrong, as a sentence for
// a 400 or a usage error naming the option: a count out of 1..diarize::kMaxSpeakers, min
// above max, speakers outside min..max, more than kMaxKnownSpeakers clips or more known voices
// than the speakers there may be (speakers when given, else max_speakers), an empty,
// over-long, repeated or unprintable name, a name without a clip. Defaults: min 1, max the
// diarizer's 8, raised to speakers or min when those are larger.
std::expected<diarize::Params, std::string> speaker_params(const SpeakerRequest& r);

// "Anna=anna.ogg" -> {"Anna", "anna.ogg"} (the name ends at the first '='); nullopt when the
// name or the path is empty.
std::optional<KnownClip> parse_speaker_arg(std::string_view arg);

// Pure. Why a clip of `seconds` cannot be a known voice's (shorter than diarize::kMinClipS,
// longer than kMaxClipS), or empty when it can.
std::string clip_length_problem(double seconds);

// Decodes a clip to the diarizer's samples (16 kHz mono), refusing one with no audio or whose
// length clip_length_problem refuses. Errors are invalid_request and name the speaker ("the
// clip of 'Anna': not a media file").
Result<std::vector<std::int16_t>> load_clip(const KnownClip& clip);

// The params with every known voice: each clip decoded (load_clip), its statistics built
// (diarize::known_speaker) and its samples freed before the next, so at most one clip's
// samples are held. Errors as load_clip's.
Result<diarize::Params> load_known(diarize::Params params, const std::vector<KnownClip>& known);

}  // namespace soroka::pipeline

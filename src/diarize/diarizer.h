// The diarizer: who spoke when, from the speech a transcription already segments; where the
// diarization algorithm and the pipeline's stage meet.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "media/decoder.h"
#include "segment/segmenter.h"
#include "util/result.h"

namespace soroka::diarize {

struct GaussStats;

// The most speakers one diarization may look for (Params::max_speakers, the front ends'
// --max-speakers): more voices than this in one recording is a crowd, not a conversation, and
// the clustering's cost and working_bytes() grow with it.
inline constexpr int kMaxSpeakers = 32;
// The shortest reference clip of a known voice: below 2 s of audio its statistics are too
// few frames (under 200, fewer still once pauses are dropped) to tell one voice from another.
inline constexpr double kMinClipS = 2.0;

// A speaker the caller knows by name, as the diarizer compares voices with it: the statistics
// of a clip of their voice (known_speaker()), built once and shared, read-only, by every
// diarization that names them. Turns whose voice matches get the name.
struct KnownSpeaker {
  std::string name;  // as the user gave it ("Anna"); non-empty
  std::shared_ptr<const GaussStats> voice;
  int sample_rate = 0;  // the clip's, which must be the input's (Params::sample_rate)
};

// The statistics of `clip` (mono, `sample_rate`), the whole clip analysed: the caller bounds
// its length, and refuses one shorter than kMinClipS (pipeline::load_clip) with a message for
// the user. An error (invalid_request) when it holds too little voiced speech to tell a voice.
// The samples are not kept.
Result<KnownSpeaker> known_speaker(std::string name, std::span<const std::int16_t> clip,
                                   int sample_rate);

struct Params {
  int speakers = 0;      // the exact number when known; 0 = find it (within min..max)
  int min_speakers = 1;  // 1 <= min <= max <= kMaxSpeakers
  int max_speakers = 8;
  std::vector<KnownSpeaker> known;
  int sample_rate = media::kSampleRate;
};

inline Params default_params() { return {}; }

// One stretch of one speaker's speech. Turns are in time order and do not overlap.
struct Turn {
  double start_s = 0, end_s = 0;  // absolute, from the start of the input
  // 0-based, numbered by first appearance: the first voice heard is 0. Known and unnamed
  // speakers share this numbering.
  int speaker = 0;
  // A known speaker's name, else "Speaker N" where N counts only the unnamed speakers in
  // order of first appearance ("Speaker 1" is the first unnamed voice heard).
  std::string name;
};

// The input's audio once more, from its start, for the resegmentation pass: the same stream
// whose speech add() was given (mono, Params::sample_rate).
class AudioReplay {
 public:
  virtual ~AudioReplay() = default;
  // Fills up to out.size() samples; returns how many, 0 at the end of the stream.
  virtual Result<std::size_t> read(std::span<std::int16_t> out) = 0;
};

// One diarization in progress. Not thread-safe; one per transcription, fed from the
// transcription's thread.
class Diarizer {
 public:
  virtual ~Diarizer() = default;
  // Speech in time order, as the segmenter cuts it (non-overlapping, increasing). Keeps only
  // compact features, never the audio: memory is bounded whatever the input's length
  // (working_bytes()).
  virtual Result<void> add(const segment::Segment& speech) = 0;
  // Once, after the last add(): the turns covering the speech that was added.
  virtual Result<std::vector<Turn>> finish() = 0;
  // Once, after the last add(), instead of finish() when the input can be read again: the
  // speakers found as finish() finds them, then every turn's boundaries placed frame by frame
  // (a second pass over the speech, `input` read once from its start, one stretch held at a
  // time: memory stays within working_bytes()). When the second pass cannot be made (the input
  // unreadable or changed since), the turns are finish()'s and the log says why. The default
  // is finish().
  virtual Result<std::vector<Turn>> finish_resegmented(AudioReplay& /*input*/) { return finish(); }
  // Drops what can be rebuilt (caches, scratch buffers) under memory pressure; add() and
  // finish() still work afterwards, perhaps slower.
  virtual void shed() {}
};

// Validates params (min <= max, speakers within them, names non-empty and distinct, each known
// voice's statistics there and analysed at the input's rate) and makes a diarizer. Errors are
// of kind invalid_request and say what to change.
Result<std::unique_ptr<Diarizer>> make_diarizer(const Params& params);

// The most memory one diarization of `duration_s` seconds of input may use, on top of its
// caller: what the job's estimate adds and what the stage reserves for that job. Flat in the
// duration beyond a cap (the clustering is capped, the features are compact, the second pass
// holds one stretch), except for the turns themselves: under 300 bytes per piece of speech, at
// most two pieces per second, and the second pass's changes, at most two per second.
std::uint64_t working_bytes(double duration_s);

}  // namespace soroka::diarize

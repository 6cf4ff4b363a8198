// Speakers in a transcript: diarization turns assigned to words and segments, and the stage
// that feeds a Diarizer beside recognition.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "diarize/diarizer.h"
#include "engine/engine.h"
#include "oomguard/budget.h"
#include "pipeline/pipeline.h"
#include "pipeline/speaker_request.h"
#include "util/result.h"

namespace soroka::pipeline {

// Pure. Gives every segment the speaker (Turn::name) the diarization says, splitting where it
// says the speaker changed:
//  - with word timings: each word gets the turn it overlaps most (no overlap: the nearest
//    turn); a segment whose words change speaker is cut into runs of consecutive words of one
//    speaker, i.e. at the word boundary nearest to each change. Each part's text is its words
//    joined by spaces; its times are its first word's start and last word's end, except that
//    the first part keeps the segment's start and the last its end. Afterwards every word of
//    a segment has its segment's speaker (the writers rely on this).
//  - without word timings: the segment gets the turn that overlaps it most and is never
//    split (the engine gives nothing to cut its text at).
// With no turns the segments are left as they are (speaker unset).
void assign_speakers(std::vector<engine::SegmentText>& segments,
                     const std::vector<diarize::Turn>& turns);

// Where a shed request (the service's "memory is critical") reaches the diarizers running in
// this process. Stages register while they live. Call shed() on the transcription's thread
// (the worker reads its stdin there): a Diarizer is not thread-safe.
class ShedPoint {
 public:
  void add(diarize::Diarizer* d) { live_.push_back(d); }
  void remove(diarize::Diarizer* d) { std::erase(live_, d); }
  void shed() {
    for (auto* d : live_) d->shed();
  }
  std::size_t size() const { return live_.size(); }

 private:
  std::vector<diarize::Diarizer*> live_;
};

using DiarizerMaker = std::function<Result<std::unique_ptr<diarize::Diarizer>>(const diarize::Params&)>;

struct DiarizeSetup {
  diarize::Params params;
  // Where each diarization reserves its working memory, sized for its input, before the
  // diarizer is made; released when the stage ends (the job's end). Required.
  oomguard::MemoryBudget* budget = nullptr;
  ShedPoint* shed = nullptr;              // may be null: nothing sheds this process's stages
  DiarizerMaker make = diarize::make_diarizer;  // tests inject a fake
};

// The budget's label for a diarization's reservation.
inline constexpr const char* kDiarizerLabel = "diarizer";

// A diarization stage for an input of `duration_s` seconds (0: unknown, reserved as for the
// decoder's longest input): diarize::working_bytes(duration_s) reserved (try_reserve: ENOMEM
// or EAGAIN when it does not fit), the diarizer made (its params checked: an invalid_request
// error says what to change). process() adds each segment's speech, finish() assigns the turns
// (assign_speakers). With `input_path` a regular file, finish() reads it again (within
// `decode`'s limits) for the diarizer's resegmentation pass; otherwise (a pipe, a FIFO, no
// path) the first-pass turns stand and the log says why (event=diarize_one_pass).
Result<std::unique_ptr<engine::Stage>> make_diarize_stage(const DiarizeSetup& setup, double duration_s,
                                                          const std::string& input_path = {},
                                                          const media::DecodeLimits& decode = {});

// Diarization for every file `options` will transcribe, as the request `r` asks: its options
// checked (speaker_params), its known voices loaded once (load_known), then a stage factory
// added to options.stages (make_diarize_stage with `setup`, whose params are replaced) and the
// stages' memory to options.stage_bytes. Errors are the request's (invalid_request) and say
// what to change; the CLI and the worker both call this.
Result<void> add_diarization(const SpeakerRequest& r, DiarizeSetup setup, TranscribeOptions& options);

}  // namespace soroka::pipeline

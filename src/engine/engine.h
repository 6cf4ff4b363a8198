// The speech-recognition engine interface: pocketsphinx today, Whisper servers later.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
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
  // Filled by the diarization stage (pipeline/speakers.h): then every word of the segment is
  // this speaker's (a segment that spans a change is split).
  std::optional<std::string> speaker;
};

struct SessionParams {
  std::string language = "en";  // ISO 639-1; an engine refuses the ones it does not know
  // Cheaper settings after an OOM kill: 0 normal, each level asks for less working memory
  // where the engine has such a knob (the pipeline itself halves segments per level).
  int degrade = 0;
  // An engine whose transcribe() can run for long (a remote request, the simulation) calls
  // this at least every second meanwhile, so the caller can tell it is not stuck. May be
  // empty; called on the session's thread.
  std::function<void()> still_working;
  // Whether Session::submit() must hand each segment's samples back (a stage reads them). A
  // remote session that may drop them frees each chunk's PCM as soon as it is encoded.
  bool keep_audio = true;
  // Requested when the transcription is cancelled: a session that waits on its own (a remote
  // engine waiting for answers) gives up with ECANCELED instead of waiting on.
  std::stop_token stop;
};

// What an engine needs in memory, for admission. A remote engine (a Whisper HTTP server)
// reports 0 for the model and only its request buffers per session.
// A worker process before any model or audio: the binary, FFmpeg and pocketsphinx libraries,
// the decoder and segmenter (~40 MiB RSS measured, rounded up).
inline constexpr std::uint64_t kWorkerProcessBytes = 64ull << 20;

struct MemoryCost {
  std::uint64_t model_bytes = 0;    // one loaded model (measured once loaded, else estimated)
  std::uint64_t to_load_bytes = 0;  // what start() would load now (0 when an idle one is ready)
  std::uint64_t session_bytes = 0;  // working memory of one session on top of its model
};

// What the pipeline may rely on; lets it cut audio to suit the engine.
struct Capabilities {
  bool word_timings = false;
  double max_segment_s = 20.0;  // longest segment the engine handles well (Whisper: 30 s)
};

// A segment handed over on the pipelined path (Session::submit) and what was recognised in it.
struct Recognised {
  segment::Segment audio;  // samples empty when SessionParams::keep_audio was false
  SegmentText text;
};

// One transcription in progress: fed segment by segment, in order. Not thread-safe; one
// thread at a time. A segment that holds no recognisable speech gives an empty text.
class Session {
 public:
  virtual ~Session() = default;
  virtual Result<SegmentText> transcribe(const segment::Segment& seg) = 0;
  // The pipelined path (what the pipeline uses), for sessions that work on several segments
  // at once (a remote engine has chunks in flight): submit() hands over the next segment and
  // returns the segments recognised since, in input order, maybe none; drain() waits for all
  // the rest. The defaults recognise each segment at once with transcribe().
  virtual Result<std::vector<Recognised>> submit(segment::Segment&& seg) {
    auto text = transcribe(seg);
    if (!text) return std::unexpected(std::move(text.error()));
    std::vector<Recognised> out;
    out.push_back({std::move(seg), std::move(*text)});
    return out;
  }
  virtual Result<std::vector<Recognised>> drain() { return std::vector<Recognised>{}; }
  // The transcript's `engine`: "" is the engine's name(); a fallback session names itself
  // ("pocketsphinx (fallback for whisper)").
  virtual std::string label() const { return {}; }
};

// An engine: loads its model (through oomguard's ModelRegistry) and opens sessions.
// Thread-safe: start() may be called from several jobs. The engine must outlive its sessions.
class Engine {
 public:
  virtual ~Engine() = default;
  virtual std::string name() const = 0;  // "pocketsphinx"
  virtual std::vector<std::string> languages() const = 0;
  virtual Capabilities capabilities() const = 0;
  virtual MemoryCost memory_cost() const = 0;
  // Fails with a user-facing message: unsupported language (FailureKind::invalid_request),
  // model missing, no memory.
  virtual Result<std::unique_ptr<Session>> start(const SessionParams& p) = 0;
};

// A step after recognition (diarization fills `speaker`, a punctuation model edits `text`).
// process() sees each segment's audio and text in order; finish() sees the whole transcript
// once, for decisions that need all of it (clustering speakers). Not thread-safe; one per
// transcription.
class Stage {
 public:
  virtual ~Stage() = default;
  virtual std::string name() const = 0;
  virtual Result<void> process(const segment::Segment& audio, SegmentText& text) = 0;
  virtual Result<void> finish(std::vector<SegmentText>& /*all*/) { return {}; }
};

}  // namespace soroka::engine

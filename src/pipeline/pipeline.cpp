// transcribe_file: one file from admission to transcript, streaming, one segment in memory.
#include "pipeline/pipeline.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <optional>

#include "oomguard/levels.h"
#include "util/log.h"
#include "util/units.h"

namespace soroka::pipeline {
namespace {

// FFmpeg demuxer, decoder and resampler state plus their packet and frame buffers; about
// 10 MiB for MP3/AAC/Opus at 44.1-48 kHz stereo, doubled for video containers' headroom.
constexpr std::uint64_t kDecodeBytes = 24 * kMiB;
// Samples per decoder read: 0.5 s, small next to a segment, large enough that the per-call
// overhead (a few microseconds) is noise.
constexpr std::size_t kChunkSamples = 8192;
// Progress is reported at most once per this much audio (plus at the end).
constexpr double kProgressStepS = 1.0;

// Admission's refusals as errors: errno for the CLI's messages, the kind for the service.
Error refusal_error(const oomguard::Verdict& v) {
  using oomguard::Refusal;
  switch (v.refusal) {
    case Refusal::none: break;
    case Refusal::not_found: return Error{ENOENT, v.message, FailureKind::invalid_input};
    case Refusal::unreadable: return Error{EACCES, v.message, FailureKind::invalid_input};
    case Refusal::not_regular: return Error{EINVAL, v.message, FailureKind::invalid_input};
    case Refusal::empty: return Error{EINVAL, v.message, FailureKind::invalid_input};
    case Refusal::too_big: return Error{EFBIG, v.message, FailureKind::too_big};
    // Not now; another time, or in a fresh worker, it may fit.
    case Refusal::not_enough_memory: return Error{ENOMEM, v.message, FailureKind::internal};
  }
  return Error{EINVAL, v.message, FailureKind::internal};
}

bool supports(const engine::Engine& e, const std::string& language) {
  auto langs = e.languages();
  return std::find(langs.begin(), langs.end(), language) != langs.end();
}

// Keeps times inside [0, duration] and in order, so that writers can trust them.
void normalise(Transcript& t) {
  double prev_start = 0;
  auto clamp = [&](double s) { return std::clamp(std::isfinite(s) ? s : 0.0, 0.0, t.duration_s); };
  for (auto& seg : t.segments) {
    seg.start_s = std::max(clamp(seg.start_s), prev_start);
    seg.end_s = std::max(clamp(seg.end_s), seg.start_s);
    for (auto& w : seg.words) {
      w.start_s = std::clamp(clamp(w.start_s), seg.start_s, seg.end_s);
      w.end_s = std::clamp(clamp(w.end_s), w.start_s, seg.end_s);
    }
    prev_start = seg.start_s;
  }
}

}  // namespace

std::uint64_t estimate_cost(const engine::MemoryCost& cost, double duration_s,
                            const segment::SegmenterParams& seg, std::uint64_t stage_bytes) {
  // The segmenter holds at most one segment plus padding and the pause that ends it; the
  // sink gets it by move, the engine may copy it once.
  double held_s = seg.max_segment_s + 2 * seg.pad_s + seg.min_silence_s;
  auto segment_bytes = static_cast<std::uint64_t>(held_s * seg.sample_rate) * sizeof(std::int16_t) * 2;
  double secs = std::isfinite(duration_s) && duration_s > 0 ? duration_s : 0;
  return cost.to_load_bytes + cost.session_bytes + kDecodeBytes + segment_bytes +
         transcript_bytes(secs) + stage_bytes;
}

namespace {

segment::SegmenterParams segmenter_params(const engine::Engine& engine, const TranscribeOptions& o) {
  segment::SegmenterParams p = o.segmenter;
  p.sample_rate = media::kSampleRate;
  p.max_segment_s = std::min(p.max_segment_s, engine.capabilities().max_segment_s);
  for (int i = 0; i < std::clamp(o.degrade, 0, 2); ++i) p.max_segment_s /= 2;
  return p;
}

// Admission, and the input opened once. With a known duration the estimate needs no FFmpeg
// and the decoder opens after the verdict; without, opening the decoder is the probe (the
// estimator runs only once the file exists, is regular and is under the size limit).
Result<media::AudioDecoder> admit_and_open(engine::Engine& engine, const std::string& path,
                                           const TranscribeOptions& options,
                                           const segment::SegmenterParams& seg) {
  std::optional<Result<media::AudioDecoder>> opened;
  auto estimator = [&](const std::string& p, std::uint64_t file_bytes) -> std::uint64_t {
    double duration = options.known_duration_s;
    if (duration <= 0) {
      opened = media::AudioDecoder::open(p, options.decode);
      duration = *opened ? (*opened)->info().duration_s : options.decode.max_duration_s;
    }
    const std::uint64_t stages = options.stage_bytes ? options.stage_bytes(duration) : 0;
    auto cost = estimate_cost(engine.memory_cost(), duration, seg, stages);
    spdlog::debug("event=admission bytes={} duration_s={:.1f} cost_mib={}", file_bytes, duration, to_mib(cost));
    return cost;
  };
  auto verdict = oomguard::check_file(path, options.admission, options.available_bytes,
                                      options.min_available_bytes, estimator);
  if (!verdict.ok()) return std::unexpected(refusal_error(verdict));
  if (!opened) opened = media::AudioDecoder::open(path, options.decode);
  return std::move(*opened);
}

// One transcription once its input is open: decoder -> segmenter -> session -> stages.
class Run {
 public:
  Run(engine::Engine& engine, const TranscribeOptions& options, const ProgressCallback& progress,
      media::AudioDecoder decoder)
      : engine_(engine), options_(options), progress_(progress), decoder_(std::move(decoder)),
        total_s_(options.known_duration_s > 0 ? options.known_duration_s : decoder_->info().duration_s) {}

  Result<Transcript> go(const std::string& path, const segment::SegmenterParams& seg) {
    auto session = engine_.start(engine::SessionParams{.language = options_.language,
                                                       .degrade = options_.degrade,
                                                       .still_working = [this] { repeat_progress(); },
                                                       .keep_audio = !options_.stages.empty(),
                                                       .stop = options_.stop});
    if (!session) return std::unexpected(session.error());
    session_ = std::move(*session);
    for (const auto& make : options_.stages) {
      auto stage = make(StageInput{total_s_, path, options_.decode});
      if (!stage) return std::unexpected(stage.error());
      stages_.push_back(std::move(*stage));
    }
    t_.file = path;
    t_.language = options_.language;
    t_.engine = session_->label().empty() ? engine_.name() : session_->label();
    if (auto r = decode_all(seg); !r) return std::unexpected(r.error());
    t_.duration_s = decoder_->position_s();
    decoder_.reset();  // closed before the stages finish: one that reads the input again takes its place
    for (auto& stage : stages_)
      if (auto r = stage->finish(t_.segments); !r)
        return std::unexpected(std::move(r.error()).with_context(stage->name()));
    normalise(t_);
    if (progress_) progress_(t_.duration_s, total_s_ > 0 ? std::max(total_s_, t_.duration_s) : t_.duration_s);
    return std::move(t_);
  }

 private:
  Result<void> decode_all(const segment::SegmenterParams& seg) {
    segment::Segmenter segmenter(seg);
    auto sink = [this](segment::Segment&& s) { take(std::move(s)); };
    std::array<std::int16_t, kChunkSamples> chunk{};
    for (;;) {
      if (options_.stop.stop_requested()) return fail(FailureKind::internal, "cancelled", ECANCELED);
      auto n = decoder_->read(chunk);
      if (!n) return std::unexpected(n.error());
      if (*n == 0) break;
      segmenter.push(std::span<const std::int16_t>(chunk.data(), *n), sink);
      if (failed_) return std::unexpected(*failed_);
      const double done = decoder_->position_s();
      if (done - reported_s_ >= kProgressStepS) report(done);
    }
    segmenter.finish(sink);
    if (!failed_) add(session_->drain());
    if (failed_) return std::unexpected(*failed_);
    return {};
  }

  void take(segment::Segment&& seg) {
    if (!failed_) add(session_->submit(std::move(seg)));
  }

  // Segments recognised (in order): through the stages, into the transcript.
  void add(Result<std::vector<engine::Recognised>>&& done) {
    if (!done) {
      failed_ = std::move(done.error());
      return;
    }
    for (auto& [seg, text] : *done) {
      for (auto& stage : stages_) {
        if (auto r = stage->process(seg, text); !r) {
          failed_ = std::move(r.error()).with_context(stage->name());
          return;
        }
      }
      if (!text.text.empty()) t_.segments.push_back(std::move(text));
    }
  }

  void report(double done_s) {
    reported_s_ = done_s;
    shown_s_ = total_s_ > 0 ? std::min(done_s, total_s_) : done_s;
    if (progress_) progress_(shown_s_, total_s_);
  }
  // The engine is busy on a long segment: the same figures again, as a sign of life.
  void repeat_progress() {
    if (progress_) progress_(shown_s_, total_s_);
  }

  engine::Engine& engine_;
  const TranscribeOptions& options_;
  const ProgressCallback& progress_;
  std::optional<media::AudioDecoder> decoder_;  // reset once the input is read
  const double total_s_;
  std::unique_ptr<engine::Session> session_;
  std::vector<std::unique_ptr<engine::Stage>> stages_;
  Transcript t_;
  std::optional<Error> failed_;
  double reported_s_ = -kProgressStepS;  // decoded seconds at the last report
  double shown_s_ = 0;                    // what the last report said
};

}  // namespace

Result<Transcript> transcribe_file(engine::Engine& engine, const std::string& path,
                                   const TranscribeOptions& options,
                                   const ProgressCallback& progress) {
  if (options.stop.stop_requested()) return fail(FailureKind::internal, "cancelled", ECANCELED);
  if (!supports(engine, options.language)) {
    auto langs = engine.languages();
    return fail(FailureKind::invalid_request,
                fmt::format("language '{}' is not supported by {} (supported: {})", options.language,
                            engine.name(), fmt::join(langs, ", ")),
                EINVAL);
  }
  const segment::SegmenterParams seg = segmenter_params(engine, options);
  // The decoder first: a file FFmpeg cannot open should not cost a model load.
  auto decoder = admit_and_open(engine, path, options, seg);
  if (!decoder) return std::unexpected(decoder.error());
  return Run(engine, options, progress, std::move(*decoder)).go(path, seg);
}

}  // namespace soroka::pipeline

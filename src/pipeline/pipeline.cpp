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

int refusal_errno(oomguard::Refusal r) {
  using oomguard::Refusal;
  switch (r) {
    case Refusal::none: return 0;
    case Refusal::not_found: return ENOENT;
    case Refusal::unreadable: return EACCES;
    case Refusal::not_regular: return EINVAL;
    case Refusal::empty: return EINVAL;
    case Refusal::too_big: return EFBIG;
    case Refusal::not_enough_memory: return ENOMEM;
  }
  return EINVAL;
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
                            const segment::SegmenterParams& seg) {
  // The segmenter holds at most one segment plus padding and the pause that ends it; the
  // sink gets it by move, the engine may copy it once.
  double held_s = seg.max_segment_s + 2 * seg.pad_s + seg.min_silence_s;
  auto segment_bytes = static_cast<std::uint64_t>(held_s * seg.sample_rate) * sizeof(std::int16_t) * 2;
  double secs = std::isfinite(duration_s) && duration_s > 0 ? duration_s : 0;
  return cost.to_load_bytes + cost.session_bytes + kDecodeBytes + segment_bytes +
         transcript_bytes(secs);
}

Result<Transcript> transcribe_file(engine::Engine& engine, const std::string& path,
                                   const TranscribeOptions& options,
                                   const ProgressCallback& progress) {
  if (options.stop.stop_requested()) return fail("cancelled", ECANCELED);
  if (!supports(engine, options.language)) {
    auto langs = engine.languages();
    return fail(fmt::format("language '{}' is not supported by {} (supported: {})",
                            options.language, engine.name(), fmt::join(langs, ", ")),
                EINVAL);
  }

  segment::SegmenterParams seg_params = options.segmenter;
  seg_params.sample_rate = media::kSampleRate;
  seg_params.max_segment_s = std::min(seg_params.max_segment_s, engine.capabilities().max_segment_s);

  // Admission. The estimator probes the file (headers only) for its duration; check_file
  // calls it only once the file is known to exist, be regular and be under the size limit.
  std::optional<Result<media::MediaInfo>> probed;
  auto estimator = [&](const std::string& p, std::uint64_t file_bytes) -> std::uint64_t {
    probed = media::probe_media(p, options.decode);
    double duration = *probed ? (*probed)->duration_s : options.decode.max_duration_s;
    auto cost = estimate_cost(engine.memory_cost(), duration, seg_params);
    spdlog::debug("admission: {} ({} bytes, {:.1f} s): about {} bytes", p, file_bytes, duration,
                  cost);
    return cost;
  };
  auto verdict = oomguard::check_file(path, options.admission, options.available_bytes,
                                      options.min_available_bytes, estimator);
  if (!verdict.ok()) return fail(verdict.message, refusal_errno(verdict.refusal));
  if (!probed) return fail("the file could not be probed", EIO);
  if (!*probed) return std::unexpected(probed->error());
  const media::MediaInfo& info = **probed;

  // The decoder first: a file FFmpeg cannot open should not cost a model load.
  auto decoder = media::AudioDecoder::open(path, options.decode);
  if (!decoder) return std::unexpected(decoder.error());

  auto session = engine.start(engine::SessionParams{.language = options.language});
  if (!session) return std::unexpected(session.error());

  std::vector<std::unique_ptr<engine::Stage>> stages;
  for (const auto& make : options.stages) stages.push_back(make());

  Transcript t;
  t.file = path;
  t.language = options.language;
  t.engine = engine.name();

  std::optional<Error> failed;
  auto sink = [&](segment::Segment&& seg) {
    if (failed) return;
    auto text = (*session)->transcribe(seg);
    if (!text) {
      failed = std::move(text.error());
      return;
    }
    for (auto& stage : stages) {
      if (auto r = stage->process(seg, *text); !r) {
        failed = std::move(r.error()).with_context(stage->name());
        return;
      }
    }
    if (!text->text.empty()) t.segments.push_back(std::move(*text));
  };

  segment::Segmenter segmenter(seg_params);
  std::array<std::int16_t, kChunkSamples> chunk{};
  const double total = info.duration_s;
  double reported = -kProgressStepS;
  for (;;) {
    if (options.stop.stop_requested()) return fail("cancelled", ECANCELED);
    auto n = decoder->read(chunk);
    if (!n) return std::unexpected(n.error());
    if (*n == 0) break;
    segmenter.push(std::span<const std::int16_t>(chunk.data(), *n), sink);
    if (failed) return std::unexpected(*failed);
    double done = decoder->position_s();
    if (progress && done - reported >= kProgressStepS) {
      progress(total > 0 ? std::min(done, total) : done, total);
      reported = done;
    }
  }
  segmenter.finish(sink);
  if (failed) return std::unexpected(*failed);
  for (auto& stage : stages)
    if (auto r = stage->finish(t.segments); !r)
      return std::unexpected(std::move(r.error()).with_context(stage->name()));

  t.duration_s = decoder->position_s();
  normalise(t);
  if (progress) progress(t.duration_s, total > 0 ? std::max(total, t.duration_s) : t.duration_s);
  return t;
}

}  // namespace soroka::pipeline

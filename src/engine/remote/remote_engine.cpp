// RemoteEngine: a Whisper-class HTTP server as an engine; the session's chunking, parallel
// sending with retries, and stitching in order.
#include "engine/remote/remote_engine.h"

#include <malloc.h>

#include <mutex>

#include <fmt/format.h>

#include "engine/remote/health.h"
#include "engine/remote/remote_session.h"
#include "media/decoder.h"
#include "util/log.h"

namespace soroka::engine::remote {

namespace {

// A session on the fallback engine that says so in the transcript's `engine`.
class FallbackSession final : public Session {
 public:
  FallbackSession(std::unique_ptr<Session> inner, std::string label)
      : inner_(std::move(inner)), label_(std::move(label)) {}
  Result<SegmentText> transcribe(const segment::Segment& seg) override { return inner_->transcribe(seg); }
  Result<std::vector<Recognised>> submit(segment::Segment&& seg) override { return inner_->submit(std::move(seg)); }
  Result<std::vector<Recognised>> drain() override { return inner_->drain(); }
  std::string label() const override { return label_; }

 private:
  std::unique_ptr<Session> inner_;
  std::string label_;
};

}  // namespace

std::uint64_t session_bytes(const RemoteEngineSettings& s) {
  const auto pcm = static_cast<std::uint64_t>(s.chunk_seconds * media::kSampleRate * 2);
  const std::uint64_t flac = std::min(pcm + 44, s.max_request_bytes);  // FLAC, at most a WAV
  // FFmpeg's FLAC encoder and muxer: ~200 KB measured; curl's buffers per handle ~100 KB.
  constexpr std::uint64_t kEncoderBytes = 512u << 10, kCurlBytes = 256u << 10;
  return s.max_concurrency * (pcm + flac + kMaxAnswerBytes + kCurlBytes) + pcm + flac + kEncoderBytes;
}

RemoteEngine::RemoteEngine(RemoteEngineSettings s, std::string api_key, std::unique_ptr<Engine> fallback)
    : s_(std::move(s)), fallback_(std::move(fallback)),
      shared_(std::make_shared<Shared>(s_, std::move(api_key))) {
  // Chunks' PCM and FLAC (0.3-4 MB each) are allocated and freed by the hundred per hour of
  // audio from several threads. glibc raises its mmap threshold to the size of each large
  // block freed, after which such blocks come from the heaps and fragment them: the front's
  // RSS grew 51 -> 64 MiB over 4 minutes of audio. A fixed 256 KiB threshold keeps every
  // large buffer mmapped and gives it back to the kernel when freed.
  static std::once_flag once;
  std::call_once(once, [] { mallopt(M_MMAP_THRESHOLD, 256 * 1024); });
}

RemoteEngine::~RemoteEngine() = default;

Capabilities RemoteEngine::capabilities() const {
  // Whisper reads 30 s windows; local segments stay at the segmenter's 20 s and are joined.
  return Capabilities{.word_timings = true, .max_segment_s = 30.0};
}

MemoryCost RemoteEngine::memory_cost() const {
  MemoryCost c{.model_bytes = 0, .to_load_bytes = 0, .session_bytes = session_bytes(s_)};
  // The fallback's model loads only when it is used; admission counts it as a possibility.
  if (fallback_) {
    auto f = fallback_->memory_cost();
    c.to_load_bytes = f.to_load_bytes;
    c.session_bytes = std::max(c.session_bytes, f.session_bytes);
  }
  return c;
}

bool RemoteEngine::reachable(std::chrono::milliseconds timeout) {
  return probe_urls(shared_->client, s_.urls, timeout, /*first_only=*/true).reachable > 0;
}

Result<std::unique_ptr<Session>> RemoteEngine::start(const SessionParams& p) {
  // The language is checked by the pipeline against languages(); a worker's warm-up start()
  // has none of its own to give (SessionParams' default), so none is refused here.
  // 3 s: a server on the same network answers in milliseconds; one that does not is treated
  // as down for this job, which then runs on the fallback at once rather than waiting.
  if (fallback_ && !reachable(std::chrono::seconds(3))) {
    spdlog::warn("event=remote_engine_fallback engine={} fallback={} reason=unreachable", s_.name, fallback_->name());
    auto inner = fallback_->start(p);
    if (!inner) return std::unexpected(inner.error());
    return std::unique_ptr<Session>(std::make_unique<FallbackSession>(
        std::move(*inner), fmt::format("{} (fallback for {})", fallback_->name(), s_.name)));
  }
  return std::unique_ptr<Session>(std::make_unique<RemoteSession>(shared_, p));
}

}  // namespace soroka::engine::remote

// Opening a media file for its best audio stream: our own file I/O under a stall deadline,
// bounded probing, a container whitelist and user-facing errors (media internals).
#include "media/input.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

extern "C" {
#include <libavutil/avstring.h>
}

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>

#include "media/declared_length.h"
#include "media/ffmpeg_log.h"

namespace soroka::media::detail {

namespace {

// Containers people send as voice notes, music and video. Anything else FFmpeg recognises
// (images, playlists that reference other files, subtitles, text art) is "not a media file".
// Names are FFmpeg demuxer names; av_match_list matches any comma-separated alias.
constexpr const char* kContainerWhitelist =
    "ogg,mp3,mov,mp4,m4a,3gp,3g2,matroska,webm,wav,w64,flac,aac,loas,ac3,eac3,dts,truehd,"
    "aiff,caf,amr,amrnb,amrwb,asf,avi,flv,live_flv,mpeg,mpegts,nut,wv,ape,tta,mpc,mpc8,au,"
    "voc,xwma,mxf,rm,dv";

// Below this probe score FFmpeg itself warns "misdetection possible": random bytes sometimes
// look like two or three MP3 frame headers. A real MP3 with four frames in a row scores 51.
constexpr int kMinProbeScore = AVPROBE_SCORE_RETRY + 1;

// Where we look for what FFmpeg does not tell: a WAV's data chunk follows the fmt chunk and
// any LIST metadata within the first KBs; an Ogg page is at most 27 + 255 + 255 * 255 bytes.
constexpr std::size_t kHeadBytes = 64 << 10;
constexpr std::uint64_t kOggMaxPage = 27 + 255 + 255 * 255;
// Enough MP3 or ADTS frames (at most 2881 and 8191 bytes) to find a chain of them and follow
// it to the end.
constexpr std::uint64_t kFramesTailBytes = 32 << 10;
// The EBML header and the Segment element's header: well under 100 bytes in practice.
constexpr std::size_t kEbmlHeadBytes = 4096;

double seconds_of(std::int64_t ts, AVRational tb) {
  if (ts == AV_NOPTS_VALUE || ts <= 0) return 0;
  return static_cast<double>(ts) * av_q2d(tb);
}

}  // namespace

Error not_media() {
  return Error{0, "not a media file", FailureKind::unsupported_media};
}

Error corrupt_at(double seconds) {
  return Error{0, fmt::format("truncated or corrupt at {:.1f} s", std::max(0.0, seconds)),
               FailureKind::invalid_input};
}

Error too_long(double limit_s) {
  return Error{0, fmt::format("longer than the {} limit", limit_text(limit_s)), FailureKind::invalid_input};
}

Error stall_error(std::chrono::milliseconds t) {
  return Error{ETIMEDOUT,
               fmt::format("reading stalled: no progress for {}", limit_text(static_cast<double>(t.count()) / 1000.0)),
               FailureKind::invalid_input};
}

Error out_of_memory(std::string_view what) {
  return Error{ENOMEM, "out of memory " + std::string(what), FailureKind::internal};
}

std::string limit_text(double s) {
  auto whole = [](double v) { return std::abs(v - std::round(v)) < 1e-9; };
  if (s >= 3600 && whole(s / 3600)) return fmt::format("{:g} h", s / 3600);
  if (s >= 60 && whole(s / 60)) return fmt::format("{:g} min", s / 60);
  return fmt::format("{:g} s", s);
}

Error unsupported_codec(std::string_view name) {
  return Error{0, fmt::format("unsupported audio codec '{}'", name), FailureKind::unsupported_media};
}

std::atomic<std::uint64_t> g_opened{0};

namespace {

// An error of ours (the OS refused something a readable file would not cause).
std::unexpected<Error> internal(std::unexpected<Error> e) {
  e.error().kind = FailureKind::internal;
  return e;
}
}  // namespace

Input::~Input() = default;

bool Input::expired() noexcept {
  if (Clock::now() < deadline_) return false;
  stalled_ = true;
  return true;
}

int Input::read_cb(void* opaque, std::uint8_t* buf, int size) {
  auto* self = static_cast<Input*>(opaque);
  for (;;) {
    if (self->expired()) return AVERROR_EXIT;
    ssize_t n = ::read(self->fd_.get(), buf, static_cast<std::size_t>(size));
    if (n > 0) return static_cast<int>(n);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return AVERROR(errno);
    // A pipe or FIFO with nothing to read yet: wait, but never past the deadline.
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(self->deadline_ - Clock::now());
    pollfd p{self->fd_.get(), POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::clamp<std::int64_t>(left.count() + 1, 1, 1000)));
    if (n == 0) {
      // read() says end of input whenever a FIFO has no writer, also before the first one
      // opened it. Linux reports POLLHUP only once a writer has come and gone since our
      // open(): until then, wait for one (under the deadline).
      if (!self->fifo_) return AVERROR_EOF;
      if (ready > 0 && (p.revents & POLLHUP) && !(p.revents & POLLIN)) return AVERROR_EOF;
      if (ready == 0) continue;
    }
  }
}

std::int64_t Input::seek_cb(void* opaque, std::int64_t offset, int whence) {
  auto* self = static_cast<Input*>(opaque);
  if (whence & AVSEEK_SIZE) {
    struct stat st {};
    if (::fstat(self->fd_.get(), &st) != 0) return AVERROR(errno);
    return st.st_size;
  }
  off_t pos = ::lseek(self->fd_.get(), offset, whence & ~AVSEEK_FORCE);
  return pos < 0 ? AVERROR(errno) : pos;
}

int Input::interrupt_cb(void* opaque) {
  return static_cast<Input*>(opaque)->expired() ? 1 : 0;
}

Error Input::error_from(int av_err, double at_s) const {
  if (stalled_ || av_err == AVERROR_EXIT) return stall_error(limits_.stall_timeout);
  if (av_err == AVERROR(EIO)) return Error{EIO, fmt::format("read error at {:.1f} s", at_s), FailureKind::internal};
  // ENOMEM here means a header asked for more than kMaxSingleAlloc: a lie, not a big file.
  return corrupt_at(at_s);
}

Result<std::unique_ptr<Input>> Input::open(const std::string& path, const DecodeLimits& limits) {
  ff::setup_once();
  g_opened.fetch_add(1, std::memory_order_relaxed);
  // O_NONBLOCK: opening a FIFO must not wait for a writer; reads then poll under the deadline.
  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    int err = errno;
    // The user's to fix where they name the file (the CLI; a worker's input the sandbox
    // keeps out of reach).
    if (err == ENOENT) return fail(FailureKind::invalid_input, "file not found", err);
    if (err == EACCES) return fail(FailureKind::invalid_input, "cannot read the file: permission denied", err);
    return internal(sys_fail("cannot open the file", err));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return internal(sys_fail("cannot open the file"));
  if (S_ISDIR(st.st_mode)) return std::unexpected(not_media());
  if (S_ISREG(st.st_mode) && st.st_size == 0) return fail(FailureKind::invalid_input, "empty file");

  std::unique_ptr<Input> in(new Input(std::move(fd), limits));
  in->info_.file_bytes = S_ISREG(st.st_mode) ? static_cast<std::uint64_t>(st.st_size) : 0;
  in->fifo_ = S_ISFIFO(st.st_mode);
  in->arm_deadline();
  if (auto r = in->open_container(path, S_ISREG(st.st_mode)); !r) return std::unexpected(r.error());
  if (S_ISREG(st.st_mode)) in->check_declared_end();
  if (auto r = in->choose_stream(); !r) return std::unexpected(r.error());
  in->read_declared_length(S_ISREG(st.st_mode));
  if (auto r = in->check_declared_duration(); !r) return std::unexpected(r.error());
  return in;
}

Result<const AVInputFormat*> Input::recognise(const std::string& path) {
  // From the content only: an extension would let a text file named .gsm be "decoded" by a
  // raw demuxer that accepts anything.
  const AVInputFormat* format = nullptr;
  int score = av_probe_input_buffer2(io_.get(), &format, "", nullptr, 0, kProbeBytes);
  if (stalled_) return std::unexpected(stall_error(limits_.stall_timeout));
  if (score < 0 || !format || score < kMinProbeScore) {
    spdlog::debug("media: {}: not recognised (score {}, {})", path, score,
                  format ? format->name : "no format");
    return std::unexpected(not_media());
  }
  if (av_match_list(format->name, kContainerWhitelist, ',') <= 0) {
    spdlog::debug("media: {}: container '{}' is not on the whitelist", path, format->name);
    return std::unexpected(not_media());
  }
  return format;
}

Result<void> Input::open_container(const std::string& path, bool seekable) {
  auto* buffer = static_cast<unsigned char*>(av_malloc(kIoBufferBytes));
  if (!buffer) return std::unexpected(out_of_memory("opening the file"));
  io_.reset(avio_alloc_context(buffer, kIoBufferBytes, 0, this, &Input::read_cb, nullptr,
                               seekable ? &Input::seek_cb : nullptr));
  if (!io_) {
    av_free(buffer);
    return std::unexpected(out_of_memory("opening the file"));
  }

  auto recognised = recognise(path);
  if (!recognised) return std::unexpected(recognised.error());
  const AVInputFormat* format = *recognised;

  AVFormatContext* ctx = avformat_alloc_context();
  if (!ctx) return std::unexpected(out_of_memory("opening the file"));
  ctx->pb = io_.get();
  ctx->flags |= AVFMT_FLAG_CUSTOM_IO;
  ctx->interrupt_callback = AVIOInterruptCB{&Input::interrupt_cb, this};
  ctx->probesize = kProbeBytes;
  ctx->max_analyze_duration = kAnalyzeDurationUs;
  ctx->max_streams = kMaxStreams;
  ctx->max_index_size = kMaxIndexBytes;
  // On failure avformat_open_input frees ctx (not our pb) and nulls it.
  int ret = avformat_open_input(&ctx, path.c_str(), format, nullptr);
  if (ret < 0) {
    spdlog::debug("media: {}: opening {} failed: {}", path, format->name, ff::error_text(ret));
    return std::unexpected(error_from(ret, 0));
  }
  fmt_.reset(ctx);

  // What the header alone says about each stream's length, before stream analysis fills
  // gaps with guesses (from the bitrate, or from the longest stream).
  std::vector<double> declared(fmt_->nb_streams);
  for (unsigned i = 0; i < fmt_->nb_streams; ++i)
    declared[i] = seconds_of(fmt_->streams[i]->duration, fmt_->streams[i]->time_base);

  ret = avformat_find_stream_info(fmt_.get(), nullptr);
  if (ret < 0) {
    spdlog::debug("media: {}: stream analysis failed: {}", path, ff::error_text(ret));
    return std::unexpected(error_from(ret, 0));
  }
  if (stalled_) return std::unexpected(stall_error(limits_.stall_timeout));

  info_.container = fmt_->iformat->name;
  if (fmt_->duration != AV_NOPTS_VALUE && fmt_->duration > 0)
    info_.duration_s = static_cast<double>(fmt_->duration) / AV_TIME_BASE;
  for (unsigned i = 0; i < fmt_->nb_streams; ++i) {
    const AVStream* s = fmt_->streams[i];
    if (s->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
        !(s->disposition & AV_DISPOSITION_ATTACHED_PIC))
      info_.has_video = true;
  }
  header_durations_ = std::move(declared);
  return {};
}

Result<void> Input::choose_stream() {
  int idx = av_find_best_stream(fmt_.get(), AVMEDIA_TYPE_AUDIO, -1, -1, &decoder_, 0);
  // A cut MP4/MOV index may hold the video track and not yet the audio one.
  if (idx == AVERROR_STREAM_NOT_FOUND && cut_short_) return std::unexpected(corrupt_at(0));
  if (idx == AVERROR_STREAM_NOT_FOUND) return fail(FailureKind::unsupported_media, "no audio stream");
  if (idx < 0) {
    // Audio exists but nothing here decodes it: name the codec as best we can.
    for (unsigned i = 0; i < fmt_->nb_streams; ++i) {
      const AVCodecParameters* par = fmt_->streams[i]->codecpar;
      if (par->codec_type != AVMEDIA_TYPE_AUDIO) continue;
      if (par->codec_id == AV_CODEC_ID_NONE)
        return fail(FailureKind::unsupported_media,
                    fmt::format("unsupported audio codec (unknown, tag 0x{:x})", par->codec_tag));
      return std::unexpected(unsupported_codec(avcodec_get_name(par->codec_id)));
    }
    return fail(FailureKind::unsupported_media, "unsupported audio codec");
  }
  audio_index_ = idx;
  const AVStream* st = fmt_->streams[idx];
  info_.codec = avcodec_get_name(st->codecpar->codec_id);
  info_.sample_rate = st->codecpar->sample_rate;
  info_.channels = st->codecpar->ch_layout.nb_channels;
  if (static_cast<std::size_t>(idx) < header_durations_.size())
    header_duration_s_ = header_durations_[static_cast<std::size_t>(idx)];
  const std::string_view name = fmt_->iformat->name;
  header_exact_ = header_duration_s_ > 0 && (name == "flac" || name == "mp3");
  if (info_.duration_s <= 0) info_.duration_s = seconds_of(st->duration, st->time_base);
  // Only the audio stream is read: demuxers skip the others' data where the container allows.
  for (unsigned i = 0; i < fmt_->nb_streams; ++i)
    if (static_cast<int>(i) != idx) fmt_->streams[i]->discard = AVDISCARD_ALL;
  return {};
}

std::vector<std::uint8_t> Input::pread_at(std::uint64_t offset, std::size_t n) const {
  std::vector<std::uint8_t> bytes(n);
  ssize_t got = ::pread(fd_.get(), bytes.data(), n, static_cast<off_t>(offset));
  bytes.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
  return bytes;
}

void Input::read_declared_length(bool seekable) {
  if (header_duration_s_ > 0) return;
  const AVStream* st = audio();
  const std::string_view name = fmt_->iformat->name;
  int others = 0;
  for (unsigned i = 0; i < fmt_->nb_streams; ++i)
    if (static_cast<int>(i) != audio_index_ &&
        !(fmt_->streams[i]->disposition & AV_DISPOSITION_ATTACHED_PIC))
      ++others;
  if (name == "wav" && seekable) {
    // FFmpeg ignores a data size that runs past the end of the file; we want to know.
    header_duration_s_ = wav_declared_seconds(pread_at(0, kHeadBytes)).value_or(0);
    header_exact_ = header_duration_s_ > 0;
  } else if (const AVDictionaryEntry* tag = av_dict_get(st->metadata, "DURATION", nullptr, 0);
             tag && name.starts_with("matroska")) {
    header_duration_s_ = parse_duration_tag(tag->value).value_or(0);
  } else if (others == 0 && fmt_->duration_estimation_method != AVFMT_DURATION_FROM_BITRATE) {
    // Audio alone in the container: the container's length is the audio's.
    header_duration_s_ = info_.duration_s;
  }
}

void Input::check_declared_end() {
  const std::string_view name = fmt_->iformat->name;
  const std::uint64_t size = info_.file_bytes;
  if (size == 0) return;
  if (name == "ogg") {
    std::uint64_t n = std::min<std::uint64_t>(size, kOggMaxPage);
    cut_short_ = ogg_cut_mid_page(pread_at(size - n, static_cast<std::size_t>(n)), size - n, size);
  } else if (name.starts_with("mov,")) {
    cut_short_ = mp4_boxes_cut_short(
        [this](std::uint64_t offset, std::size_t n) { return pread_at(offset, n); }, size);
  } else if (name.starts_with("matroska")) {
    cut_short_ = matroska_segment_end(pread_at(0, kEbmlHeadBytes)).value_or(0) > size;
  } else if (name == "mp3" || name == "aac") {
    std::uint64_t n = std::min<std::uint64_t>(size, kFramesTailBytes);
    auto tail = pread_at(size - n, static_cast<std::size_t>(n));
    cut_short_ = name == "mp3" ? mp3_last_frame_cut(tail, size - n, size)
                               : adts_last_frame_cut(tail, size - n, size);
  }
  if (cut_short_) spdlog::debug("media: the {} container declares more than {} bytes", name, size);
}

Result<void> Input::check_declared_duration() const {
  const double limit = limits_.max_duration_s;
  if (header_duration_s_ > limit) return std::unexpected(too_long(limit));
  // A duration estimated from file size and bitrate can be off by 2x for variable-bitrate
  // audio; the decoded length is enforced exactly anyway.
  double slack = fmt_->duration_estimation_method == AVFMT_DURATION_FROM_BITRATE ? 2.0 : 1.0;
  if (info_.duration_s > limit * slack) return std::unexpected(too_long(limit));
  return {};
}

}  // namespace soroka::media::detail

namespace soroka::media {

std::uint64_t opened_count() noexcept {
  return detail::g_opened.load(std::memory_order_relaxed);
}

}  // namespace soroka::media

// Streaming decode of a file's best audio stream to 16 kHz mono s16, one codec frame at a time.
#include "media/decoder.h"

extern "C" {
#include <libavutil/channel_layout.h>
#include <libavutil/samplefmt.h>
}

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "media/ffmpeg_handles.h"
#include "media/input.h"

namespace soroka::media {

namespace {

// Decoders reject single damaged packets and carry on, and so do we; this many rejected in a
// row means the rest of the file is garbage. (32 Opus packets = 0.64 s, 32 MP3 frames = 0.8 s.)
constexpr int kMaxConsecutiveDecodeErrors = 32;
// No codec has frames anywhere near this long (FLAC's maximum block is 65535 samples).
constexpr int kMaxFrameSamples = 1 << 20;
// A container header whose length exceeds what we decode by more than this (and by more than
// kTruncationShare of it) describes a file that was cut short. Encoder padding and priming
// differ by tens of milliseconds only.
constexpr double kTruncationSlackS = 0.5;
constexpr double kTruncationShare = 0.02;
// Where the header is exact to the sample (FLAC, WAV, MP3 with a Xing/VBRI frame count), a
// complete file decodes to its length within a frame or two (26 ms per MP3 frame).
constexpr double kExactSlackS = 0.1;

}  // namespace

struct AudioDecoder::Impl {
  std::unique_ptr<detail::Input> in;
  ff::CodecPtr codec;
  ff::SwrPtr swr;
  ff::FramePtr frame;
  ff::PacketPtr packet;

  // The input format the resampler was set up for; a change mid-stream rebuilds it.
  AVChannelLayout swr_layout{};
  int swr_format = -1;
  int swr_rate = 0;

  // Converted samples not yet handed out: at most one codec frame (plus a resampler flush).
  std::vector<std::int16_t> pending;
  std::size_t pending_pos = 0;

  std::int64_t produced = 0;   // samples converted so far
  std::int64_t delivered = 0;  // samples handed to the caller so far
  std::int64_t max_samples = 0;
  bool flushing = false;  // the demuxer is done; draining the decoder
  bool finished = false;  // decoder and resampler drained
  int consecutive_errors = 0;
  std::optional<Error> error;  // sticky: returned once the pending samples are out

  ~Impl() { av_channel_layout_uninit(&swr_layout); }

  double produced_s() const { return static_cast<double>(produced) / kSampleRate; }

  Result<void> setup_resampler(const AVFrame* f) {
    if (f->sample_rate <= 0 || f->ch_layout.nb_channels <= 0)
      return std::unexpected(detail::corrupt_at(produced_s()));
    AVChannelLayout in_layout{};
    if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || !av_channel_layout_check(&f->ch_layout))
      av_channel_layout_default(&in_layout, f->ch_layout.nb_channels);
    else if (av_channel_layout_copy(&in_layout, &f->ch_layout) < 0)
      return std::unexpected(detail::out_of_memory("decoding audio"));
    AVChannelLayout mono{};
    av_channel_layout_default(&mono, 1);
    SwrContext* raw = nullptr;
    int ret =
        swr_alloc_set_opts2(&raw, &mono, AV_SAMPLE_FMT_S16, kSampleRate, &in_layout,
                            static_cast<AVSampleFormat>(f->format), f->sample_rate, 0, nullptr);
    av_channel_layout_uninit(&in_layout);
    swr.reset(raw);
    if (ret < 0 || (ret = swr_init(swr.get())) < 0) {
      spdlog::debug("media: resampler setup failed: {}", ff::error_text(ret));
      return std::unexpected(detail::corrupt_at(produced_s()));
    }
    av_channel_layout_uninit(&swr_layout);
    if (av_channel_layout_copy(&swr_layout, &f->ch_layout) < 0)
      return std::unexpected(detail::out_of_memory("decoding audio"));
    swr_format = f->format;
    swr_rate = f->sample_rate;
    return {};
  }

  // Runs the resampler on `f` (nullptr drains it) and appends its output to `pending`.
  Result<void> convert(const AVFrame* f) {
    if (!swr) return {};
    int in_count = f ? f->nb_samples : 0;
    int cap = swr_get_out_samples(swr.get(), in_count);
    if (cap < 0) return std::unexpected(detail::corrupt_at(produced_s()));
    if (cap == 0) return {};
    std::size_t at = pending.size();
    pending.resize(at + static_cast<std::size_t>(cap));
    auto* out = reinterpret_cast<std::uint8_t*>(pending.data() + at);
    int n = f ? swr_convert(swr.get(), &out, cap,
                            const_cast<const std::uint8_t**>(f->extended_data), in_count)
              : swr_convert(swr.get(), &out, cap, nullptr, 0);
    if (n < 0) {
      pending.resize(at);
      return std::unexpected(detail::corrupt_at(produced_s()));
    }
    pending.resize(at + static_cast<std::size_t>(n));
    produced += n;
    return {};
  }

  Result<void> take_frame(const AVFrame* f) {
    if (f->nb_samples <= 0) return {};
    if (f->nb_samples > kMaxFrameSamples) return std::unexpected(detail::corrupt_at(produced_s()));
    bool changed = !swr || f->format != swr_format || f->sample_rate != swr_rate ||
                   av_channel_layout_compare(&f->ch_layout, &swr_layout) != 0;
    if (changed) {
      if (auto r = convert(nullptr); !r) return r;  // the old resampler's tail
      if (auto r = setup_resampler(f); !r) return r;
    }
    return convert(f);
  }

  // Enforces the length limit on what was actually decoded: keeps the samples up to it.
  void check_length() {
    if (produced <= max_samples) return;
    std::int64_t over = produced - max_samples;
    auto keep = static_cast<std::int64_t>(pending.size()) - over;
    pending.resize(static_cast<std::size_t>(
        std::max<std::int64_t>(keep, static_cast<std::int64_t>(pending_pos))));
    error = detail::too_long(in->limits().max_duration_s);
  }

  // How far short of the header's length a complete file may decode.
  double truncation_slack(double header) const {
    if (in->header_exact()) return kExactSlackS;
    return std::max(kTruncationSlackS, kTruncationShare * header);
  }

  // End of stream: tells a complete file from one cut short. Signs of a cut: less audio than
  // the header declares; a container page, box or segment, or an MP3 or ADTS frame, running
  // past the end of the file. Not a sign: the decoder rejecting the last packet, which is
  // also what zeros or junk after the last frame cause.
  void check_complete() {
    double header = in->header_duration_s();
    double got = produced_s();
    if (produced == 0) {
      error = detail::corrupt_at(0);
    } else if (header > 0 && got + truncation_slack(header) < header) {
      spdlog::debug("media: decoded {:.2f} s of a declared {:.2f} s", got, header);
      error = detail::corrupt_at(got);
    } else if (in->cut_short()) {
      error = detail::corrupt_at(got);
    }
  }

  // Decodes until `pending` holds samples, the stream ends, or an error is set.
  void decode_more() {
    while (pending_pos == pending.size() && !finished && !error) {
      if (in->expired()) {
        error = detail::stall_error(in->limits().stall_timeout);
        return;
      }
      int ret = avcodec_receive_frame(codec.get(), frame.get());
      if (ret == 0) {
        consecutive_errors = 0;
        auto r = take_frame(frame.get());
        av_frame_unref(frame.get());
        if (!r) {
          error = r.error();
          return;
        }
        if (pending.size() > pending_pos) in->arm_deadline();  // progress
        check_length();
        continue;
      }
      if (ret == AVERROR_EOF) {
        if (auto r = convert(nullptr); !r) error = r.error();
        finished = true;
        check_length();
        if (!error) check_complete();
        return;
      }
      if (ret != AVERROR(EAGAIN)) {
        if (note_decode_error(ret)) return;
        continue;
      }
      if (flushing) {  // a decoder that wants input after a flush: treat as the end
        finished = true;
        check_complete();
        return;
      }
      feed_packet();
    }
  }

  // Reads the next audio packet into the decoder, or starts the flush at the end.
  void feed_packet() {
    int ret = av_read_frame(in->format(), packet.get());
    if (ret == AVERROR_EOF || (ret < 0 && avio_feof(in->format()->pb) && !in->stalled())) {
      flushing = true;
      avcodec_send_packet(codec.get(), nullptr);
      return;
    }
    if (ret < 0) {
      spdlog::debug("media: demuxing failed at {:.1f} s: {}", produced_s(), ff::error_text(ret));
      error = in->stalled() ? detail::stall_error(in->limits().stall_timeout)
                            : detail::corrupt_at(produced_s());
      return;
    }
    if (packet->stream_index == in->audio_index()) {
      ret = avcodec_send_packet(codec.get(), packet.get());
      if (ret < 0 && ret != AVERROR(EAGAIN)) note_decode_error(ret);
    }
    av_packet_unref(packet.get());
  }

  // Returns true when the error ends decoding.
  bool note_decode_error(int ret) {
    if (ret == AVERROR(ENOMEM)) {
      error = detail::out_of_memory("decoding audio");
      return true;
    }
    if (++consecutive_errors < kMaxConsecutiveDecodeErrors) return false;
    spdlog::debug("media: {} decode errors in a row at {:.1f} s, last: {}", consecutive_errors,
                  produced_s(), ff::error_text(ret));
    error = detail::corrupt_at(produced_s());
    return true;
  }
};

Result<MediaInfo> probe_media(const std::string& path, const DecodeLimits& limits) {
  auto in = detail::Input::open(path, limits);
  if (!in) return std::unexpected(in.error());
  return (*in)->info();
}

Result<AudioDecoder> AudioDecoder::open(const std::string& path, const DecodeLimits& limits) {
  auto in = detail::Input::open(path, limits);
  if (!in) return std::unexpected(in.error());
  auto impl = std::make_unique<Impl>();
  impl->in = std::move(*in);
  const AVStream* st = impl->in->audio();
  const AVCodec* dec = impl->in->decoder();
  impl->codec.reset(avcodec_alloc_context3(dec));
  impl->frame.reset(av_frame_alloc());
  impl->packet.reset(av_packet_alloc());
  if (!impl->codec || !impl->frame || !impl->packet)
    return std::unexpected(detail::out_of_memory("opening the decoder"));
  if (avcodec_parameters_to_context(impl->codec.get(), st->codecpar) < 0)
    return std::unexpected(detail::out_of_memory("opening the decoder"));
  impl->codec->pkt_timebase = st->time_base;
  impl->codec->thread_count = 1;  // audio decoders gain nothing from threads; keep memory flat
  if (int ret = avcodec_open2(impl->codec.get(), dec, nullptr); ret < 0) {
    spdlog::debug("media: {}: opening decoder {} failed: {}", path, dec->name, ff::error_text(ret));
    return std::unexpected(detail::unsupported_codec(impl->in->info().codec));
  }
  impl->max_samples = static_cast<std::int64_t>(limits.max_duration_s * kSampleRate);
  return AudioDecoder(std::move(impl));
}

AudioDecoder::AudioDecoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AudioDecoder::AudioDecoder(AudioDecoder&&) noexcept = default;
AudioDecoder& AudioDecoder::operator=(AudioDecoder&&) noexcept = default;
AudioDecoder::~AudioDecoder() = default;

const MediaInfo& AudioDecoder::info() const noexcept {
  return impl_->in->info();
}

double AudioDecoder::position_s() const noexcept {
  return static_cast<double>(impl_->delivered) / kSampleRate;
}

Result<std::size_t> AudioDecoder::read(std::span<std::int16_t> out) {
  Impl& d = *impl_;
  d.in->arm_deadline();
  std::size_t n = 0;
  while (n < out.size()) {
    if (d.pending_pos == d.pending.size()) {
      d.pending.clear();
      d.pending_pos = 0;
      d.decode_more();
      if (d.pending.empty()) break;
    }
    std::size_t k = std::min(out.size() - n, d.pending.size() - d.pending_pos);
    std::memcpy(out.data() + n, d.pending.data() + d.pending_pos, k * sizeof(std::int16_t));
    d.pending_pos += k;
    n += k;
  }
  d.delivered += static_cast<std::int64_t>(n);
  if (n == 0 && d.error) return std::unexpected(*d.error);
  return n;
}

}  // namespace soroka::media

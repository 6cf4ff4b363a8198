// encode_flac: 16 kHz mono PCM to a FLAC file in memory through libavcodec and libavformat.
#include "media/encoder.h"

#include <algorithm>
#include <cstring>

#include "media/ffmpeg_handles.h"

extern "C" {
#include <libavutil/channel_layout.h>
}

namespace soroka::media {

namespace {

// The muxer's output: appended to a string (the stream is written front to back; FLAC's
// muxer rewrites its header only on seekable outputs, so this one says it is not).
int append_packet(void* opaque, std::uint8_t* buf, int size) {
  static_cast<std::string*>(opaque)->append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(size));
  return size;
}

struct OutputCloser {
  void operator()(AVFormatContext* c) const noexcept { avformat_free_context(c); }
};

Error ff_error(const char* what, int err) {
  return Error{EIO, std::string(what) + ": " + ff::error_text(err), FailureKind::internal};
}

struct FlacWriter {
  std::string out;
  ff::CodecPtr codec;
  std::unique_ptr<AVFormatContext, OutputCloser> fmt;
  ff::IoPtr io;
  AVStream* stream = nullptr;
  ff::PacketPtr pkt{av_packet_alloc()};

  Result<void> open(int rate) {
    const AVCodec* enc = avcodec_find_encoder(AV_CODEC_ID_FLAC);
    if (!enc) return fail(FailureKind::internal, "FFmpeg has no FLAC encoder", ENOSYS);
    codec.reset(avcodec_alloc_context3(enc));
    if (!codec || !pkt) return fail(FailureKind::internal, "out of memory", ENOMEM);
    codec->sample_rate = rate;
    codec->sample_fmt = AV_SAMPLE_FMT_S16;
    av_channel_layout_default(&codec->ch_layout, 1);
    codec->time_base = AVRational{1, rate};
    AVFormatContext* raw = nullptr;
    if (int e = avformat_alloc_output_context2(&raw, nullptr, "flac", nullptr); e < 0) return std::unexpected(ff_error("flac muxer", e));
    fmt.reset(raw);
    if (fmt->oformat->flags & AVFMT_GLOBALHEADER) codec->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (int e = avcodec_open2(codec.get(), enc, nullptr); e < 0) return std::unexpected(ff_error("flac encoder", e));
    stream = avformat_new_stream(fmt.get(), nullptr);
    if (!stream) return fail(FailureKind::internal, "out of memory", ENOMEM);
    avcodec_parameters_from_context(stream->codecpar, codec.get());
    stream->time_base = codec->time_base;
    constexpr int kIoBuffer = 32 * 1024;
    auto* buf = static_cast<unsigned char*>(av_malloc(kIoBuffer));
    io.reset(avio_alloc_context(buf, kIoBuffer, 1, &out, nullptr, append_packet, nullptr));
    if (!io) return fail(FailureKind::internal, "out of memory", ENOMEM);
    io->seekable = 0;
    fmt->pb = io.get();
    if (int e = avformat_write_header(fmt.get(), nullptr); e < 0) return std::unexpected(ff_error("flac header", e));
    return {};
  }

  Result<void> drain() {
    for (;;) {
      int e = avcodec_receive_packet(codec.get(), pkt.get());
      if (e == AVERROR(EAGAIN) || e == AVERROR_EOF) return {};
      if (e < 0) return std::unexpected(ff_error("flac encode", e));
      av_packet_rescale_ts(pkt.get(), codec->time_base, stream->time_base);
      pkt->stream_index = stream->index;
      if (int w = av_interleaved_write_frame(fmt.get(), pkt.get()); w < 0) return std::unexpected(ff_error("flac write", w));
    }
  }

  Result<void> feed(std::span<const std::int16_t> pcm) {
    ff::FramePtr frame(av_frame_alloc());
    if (!frame) return fail(FailureKind::internal, "out of memory", ENOMEM);
    const int per_frame = codec->frame_size > 0 ? codec->frame_size : 4608;
    std::int64_t pts = 0;
    for (std::size_t at = 0; at < pcm.size();) {
      const auto n = std::min<std::size_t>(static_cast<std::size_t>(per_frame), pcm.size() - at);
      av_frame_unref(frame.get());
      frame->nb_samples = static_cast<int>(n);
      frame->format = AV_SAMPLE_FMT_S16;
      frame->sample_rate = codec->sample_rate;
      av_channel_layout_default(&frame->ch_layout, 1);
      if (int e = av_frame_get_buffer(frame.get(), 0); e < 0) return std::unexpected(ff_error("frame", e));
      std::memcpy(frame->data[0], pcm.data() + at, n * sizeof(std::int16_t));
      frame->pts = pts;
      pts += static_cast<std::int64_t>(n);
      at += n;
      if (int e = avcodec_send_frame(codec.get(), frame.get()); e < 0) return std::unexpected(ff_error("flac encode", e));
      if (auto r = drain(); !r) return r;
    }
    if (int e = avcodec_send_frame(codec.get(), nullptr); e < 0) return std::unexpected(ff_error("flac flush", e));
    if (auto r = drain(); !r) return r;
    if (int e = av_write_trailer(fmt.get()); e < 0) return std::unexpected(ff_error("flac trailer", e));
    avio_flush(io.get());
    return {};
  }
};

}  // namespace

Result<std::string> encode_flac(std::span<const std::int16_t> pcm, int sample_rate) {
  FlacWriter w;
  if (auto r = w.open(sample_rate); !r) return std::unexpected(r.error());
  if (auto r = w.feed(pcm); !r) return std::unexpected(r.error());
  w.fmt->pb = nullptr;
  return std::move(w.out);
}

std::string encode_wav(std::span<const std::int16_t> pcm, int sample_rate) {
  const auto data = static_cast<std::uint32_t>(pcm.size() * sizeof(std::int16_t));
  const auto rate = static_cast<std::uint32_t>(sample_rate);
  std::string out;
  out.reserve(44 + data);
  auto u32 = [&](std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  auto u16 = [&](std::uint16_t v) {
    out.push_back(static_cast<char>(v & 0xff));
    out.push_back(static_cast<char>(v >> 8));
  };
  out += "RIFF";
  u32(36 + data);
  out += "WAVEfmt ";
  u32(16);
  u16(1);  // PCM
  u16(1);  // mono
  u32(rate);
  u32(rate * 2);
  u16(2);   // block align
  u16(16);  // bits per sample
  out += "data";
  u32(data);
  for (std::int16_t s : pcm) u16(static_cast<std::uint16_t>(s));  // little-endian, whatever the host
  return out;
}

}  // namespace soroka::media

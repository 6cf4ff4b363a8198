// unique_ptr owners for FFmpeg's C handles, and FFmpeg error codes as text (media internals).
#pragma once

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/mem.h>
#include <libswresample/swresample.h>
}

#include <memory>
#include <string>

namespace soroka::media::ff {

struct FormatCloser {
  void operator()(AVFormatContext* c) const noexcept { avformat_close_input(&c); }
};
struct CodecFreer {
  void operator()(AVCodecContext* c) const noexcept { avcodec_free_context(&c); }
};
struct SwrFreer {
  void operator()(SwrContext* c) const noexcept { swr_free(&c); }
};
struct FrameFreer {
  void operator()(AVFrame* f) const noexcept { av_frame_free(&f); }
};
struct PacketFreer {
  void operator()(AVPacket* p) const noexcept { av_packet_free(&p); }
};
// A custom AVIOContext: FFmpeg may have replaced its buffer, so free the current one.
struct IoFreer {
  void operator()(AVIOContext* io) const noexcept {
    av_freep(&io->buffer);
    avio_context_free(&io);
  }
};

using FormatPtr = std::unique_ptr<AVFormatContext, FormatCloser>;
using CodecPtr = std::unique_ptr<AVCodecContext, CodecFreer>;
using SwrPtr = std::unique_ptr<SwrContext, SwrFreer>;
using FramePtr = std::unique_ptr<AVFrame, FrameFreer>;
using PacketPtr = std::unique_ptr<AVPacket, PacketFreer>;
using IoPtr = std::unique_ptr<AVIOContext, IoFreer>;

inline std::string error_text(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(err, buf, sizeof buf);
  return buf;
}

}  // namespace soroka::media::ff

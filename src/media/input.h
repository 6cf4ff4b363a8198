// Opening a media file for its best audio stream: our own file I/O under a stall deadline,
// bounded probing, a container whitelist and user-facing errors (media internals).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "media/decoder.h"
#include "media/ffmpeg_handles.h"
#include "util/fd.h"
#include "util/result.h"

namespace soroka::media::detail {

using Clock = std::chrono::steady_clock;

// Bytes FFmpeg may read to recognise the container and its streams (its default is 5 MB);
// 2 MB holds several seconds of 1080p video in front of the first audio packet.
inline constexpr int kProbeBytes = 2 << 20;
// Stream analysis stops after this much media time (AV_TIME_BASE units, i.e. 3 s).
inline constexpr std::int64_t kAnalyzeDurationUs = 3'000'000;
// Real files have a handful of streams; a header declaring thousands is hostile.
inline constexpr int kMaxStreams = 64;
// We never seek, so the index FFmpeg builds while reading (up to 1 MiB per stream by default
// for Ogg, MP3, FLAC...) is dead weight; this caps it.
inline constexpr unsigned kMaxIndexBytes = 32 << 10;
// Our read buffer; FFmpeg's own file protocol uses 32 KiB.
inline constexpr int kIoBufferBytes = 64 << 10;

// The user-facing error texts, in one place so tests and callers can rely on them, each with
// its FailureKind: what the file is (unsupported_media), or what is wrong with it
// (invalid_input); our own trouble (out of memory, a read error) is internal.
Error not_media();                               // "not a media file"
Error unsupported_codec(std::string_view name);  // "unsupported audio codec 'x'"
Error corrupt_at(double seconds);                // "truncated or corrupt at 12.3 s"
Error too_long(double limit_s);                  // "longer than the 4 h limit"
Error stall_error(std::chrono::milliseconds t);  // "reading stalled: no progress for 10 s"
Error out_of_memory(std::string_view what);      // "out of memory " + what (ENOMEM)
std::string limit_text(double seconds);          // 14400 -> "4 h", 1800 -> "30 min", 90 -> "90 s"

// An opened container with its best audio stream chosen and all other streams discarded.
// Owns the file descriptor, the AVIOContext and the AVFormatContext. Not movable: FFmpeg's
// callbacks hold its address.
class Input {
 public:
  static Result<std::unique_ptr<Input>> open(const std::string& path, const DecodeLimits& limits);
  Input(const Input&) = delete;
  Input& operator=(const Input&) = delete;
  ~Input();

  AVFormatContext* format() const noexcept { return fmt_.get(); }
  AVStream* audio() const noexcept { return fmt_->streams[audio_index_]; }
  int audio_index() const noexcept { return audio_index_; }
  const AVCodec* decoder() const noexcept { return decoder_; }
  const MediaInfo& info() const noexcept { return info_; }
  const DecodeLimits& limits() const noexcept { return limits_; }
  // The audio stream's length as its container header states it (FLAC STREAMINFO, MP4 mdhd,
  // MP3 Xing, last Ogg granule); 0 when the header does not say. Decoding far less than this
  // means the file was cut short.
  double header_duration_s() const noexcept { return header_duration_s_; }
  // That length is exact to the sample (FLAC STREAMINFO, WAV data size, MP3 Xing/VBRI frame
  // count): a complete file decodes to it within a frame, no priming or padding to allow for.
  bool header_exact() const noexcept { return header_exact_; }
  // The file ends before its container says it does (an Ogg page, MP4 top-level box,
  // Matroska Segment, MP3 or ADTS frame runs past the end): it was cut short, whatever the
  // durations say.
  bool cut_short() const noexcept { return cut_short_; }

  // Every FFmpeg read and interrupt check fails once the deadline passes.
  void arm_deadline() noexcept { deadline_ = Clock::now() + limits_.stall_timeout; }
  bool expired() noexcept;
  bool stalled() const noexcept { return stalled_; }

 private:
  Input(Fd fd, const DecodeLimits& limits) : fd_(std::move(fd)), limits_(limits) {}
  Result<void> open_container(const std::string& path, bool seekable);
  // The container, from the content only (never the name), and only a whitelisted one.
  Result<const AVInputFormat*> recognise(const std::string& path);
  Result<void> choose_stream();
  void read_declared_length(bool seekable);
  void check_declared_end();
  std::vector<std::uint8_t> pread_at(std::uint64_t offset, std::size_t n) const;
  Result<void> check_declared_duration() const;
  Error error_from(int av_err, double at_s) const;

  static int read_cb(void* opaque, std::uint8_t* buf, int size);
  static std::int64_t seek_cb(void* opaque, std::int64_t offset, int whence);
  static int interrupt_cb(void* opaque);

  // Destroyed bottom-up: the format context before the I/O context before the descriptor.
  Fd fd_;
  ff::IoPtr io_;
  ff::FormatPtr fmt_;
  DecodeLimits limits_;
  MediaInfo info_;
  int audio_index_ = -1;
  const AVCodec* decoder_ = nullptr;
  std::vector<double> header_durations_;  // per stream, seconds, 0 = not stated
  double header_duration_s_ = 0;
  bool header_exact_ = false;
  bool cut_short_ = false;
  Clock::time_point deadline_{};
  bool stalled_ = false;
  bool fifo_ = false;  // a named pipe: end of input needs a writer that came and went
};

}  // namespace soroka::media::detail

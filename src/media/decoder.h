// Media probing and streaming decoding (FFmpeg) to 16 kHz mono 16-bit PCM, in bounded chunks.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "util/result.h"

namespace soroka::media {

inline constexpr int kSampleRate = 16000;  // what the engines take

struct MediaInfo {
  std::string container;  // "ogg", "mp3", "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", ...
  std::string codec;      // audio codec: "opus", "mp3", "aac", "pcm_s16le", ...
  double duration_s = 0;  // from the container; 0 when unknown
  int sample_rate = 0;    // of the audio stream
  int channels = 0;
  bool has_video = false;
  std::uint64_t file_bytes = 0;
};

struct DecodeLimits {
  double max_duration_s = 4 * 3600.0;  // longer inputs are refused
  // An open() or read() that yields no audio for this long fails (hung or pathological input,
  // a FIFO nobody writes to). Time spent by the caller between reads does not count.
  std::chrono::milliseconds stall_timeout{10'000};
};

// Errors are user-facing values with a FailureKind. unsupported_media: what the file is is not
// audio we read ("not a media file", "no audio stream", "unsupported audio codec 'x'").
// invalid_input: what is wrong with it ("file not found", "cannot read the file: permission
// denied", "empty file", "truncated or corrupt at 12.3 s", "longer than the 4 h limit",
// "reading stalled: no progress for 10 s"). internal: ours ("out of memory ...", ENOMEM;
// "read error at 1.0 s", EIO).
//
// The first call sets FFmpeg's process-wide log callback (to spdlog debug) and caps any single
// FFmpeg allocation at 128 MB (av_max_alloc), see media/ffmpeg_log.h.

// Cheap: reads headers only (at most 2 MB and 3 s of media). Refuses what open() would refuse
// before decoding: unknown container, no audio, no decoder, a declared length over the limit.
Result<MediaInfo> probe_media(const std::string& path, const DecodeLimits& limits = {});

// Files this process has opened for probing or decoding so far (probe_media and
// AudioDecoder::open each count one): lets a test prove that a transcription opens its input
// once.
std::uint64_t opened_count() noexcept;

// Streams a file's best audio stream (FFmpeg's choice, normally the first) as 16 kHz mono
// s16; other streams (video, cover art) are skipped unread where the container allows. Memory
// does not grow with the length of the input: ~10 MB at the peak for a voice note of any
// length, most of it FFmpeg's code and tables. Move-only; one instance is not thread-safe,
// separate instances may run on separate threads.
class AudioDecoder {
 public:
  static Result<AudioDecoder> open(const std::string& path, const DecodeLimits& limits = {});
  AudioDecoder(AudioDecoder&&) noexcept;
  AudioDecoder& operator=(AudioDecoder&&) noexcept;
  ~AudioDecoder();

  const MediaInfo& info() const noexcept;
  // Fills up to out.size() samples; returns how many, 0 at the end of the stream. Memory is
  // one codec frame of lookahead, whatever out.size() and the input length. An error is
  // returned only once the samples decoded before it have been handed out, so a caller may
  // keep a partial result; after an error every call returns it again. Errors found at the
  // end: "truncated or corrupt at N s" (less audio than the header declared, none at all, a
  // container page/box/segment that runs past the end of the file, or a last frame cut off).
  Result<std::size_t> read(std::span<std::int16_t> out);
  // Seconds of audio delivered so far.
  double position_s() const noexcept;

  struct Impl;

 private:
  explicit AudioDecoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace soroka::media

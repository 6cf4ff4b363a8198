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
  std::string container;     // "ogg", "mp3", "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", ...
  std::string codec;         // audio codec: "opus", "mp3", "aac", "pcm_s16le", ...
  double duration_s = 0;     // from the container; 0 when unknown
  int sample_rate = 0;       // of the audio stream
  int channels = 0;
  bool has_video = false;
  std::uint64_t file_bytes = 0;
};

struct DecodeLimits {
  double max_duration_s = 4 * 3600.0;  // longer inputs are refused
  // A read that makes no progress for this long fails (hung or pathological input).
  std::chrono::milliseconds stall_timeout{10'000};
};

// Cheap: reads headers only. Errors are user-facing ("not a media file", "no audio stream").
Result<MediaInfo> probe_media(const std::string& path, const DecodeLimits& limits = {});

// Streams a file's first audio stream as 16 kHz mono s16. Memory does not grow with the
// length of the input. Move-only; not thread-safe.
class AudioDecoder {
 public:
  static Result<AudioDecoder> open(const std::string& path, const DecodeLimits& limits = {});
  AudioDecoder(AudioDecoder&&) noexcept;
  AudioDecoder& operator=(AudioDecoder&&) noexcept;
  ~AudioDecoder();

  const MediaInfo& info() const noexcept;
  // Fills up to out.size() samples; returns how many, 0 at the end of the stream.
  Result<std::size_t> read(std::span<std::int16_t> out);
  // Seconds of audio delivered so far.
  double position_s() const noexcept;

  struct Impl;

 private:
  explicit AudioDecoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace soroka::media

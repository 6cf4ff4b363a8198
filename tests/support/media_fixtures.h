// Test media made on demand with flite, sox and ffmpeg (never committed), cached by recipe.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace soroka::test {

// Empty when flite, sox and ffmpeg are all on PATH; otherwise names what is missing, which is
// the reason a media test prints when it skips.
std::string missing_media_tools();

// Generated files live here: $SOROKA_MEDIA_CACHE, else <build dir>/test-media. Each file's
// name carries a hash of its recipe, so a changed recipe makes a new file; files appear by an
// atomic rename, so the test processes ctest runs side by side never see half a file. Within
// one process every sample is generated or found once.
std::filesystem::path media_cache_dir();

struct MediaSample {
  std::filesystem::path path;
  double duration_s = 0;  // of the audio that went in
  bool has_video = false;
};

// Three sentences by flite voices slt, awb and rms with 0.8 s pauses around them: a 16 kHz
// mono WAV of about 14.6 s, the source of every container sample.
Result<MediaSample> speech_sample();
// The first of those sentences alone, between two pauses: about 5.4 s.
Result<MediaSample> short_speech_sample();

// "ogg_opus" (a voice note), "mp3", "m4a", "wav" (44.1 kHz stereo), "flac" (48 kHz), "mp4"
// (H.264 + AAC), "mkv" (H.264 + AAC), "webm_vp8_vorbis", "webm_vp9_opus", "mov" (H.264 + AAC),
// "video_note" (a Telegram-style round video: 384x384 H.264 + mono AAC, faststart MP4).
const std::vector<std::string>& container_sample_names();
Result<MediaSample> container_sample(std::string_view name);
// The same made from `source` (e.g. short_speech_sample()). Also takes files whose container
// declares no length: "mp3_no_xing" (no Xing/Info frame), "aac_adts" (raw ADTS), and
// "wav_streamed" / "flac_streamed" (written to a pipe, so the length fields stay unset).
Result<MediaSample> container_sample(std::string_view name, const MediaSample& source);

// Inputs a decoder must refuse:
//   empty            0 bytes, named .ogg
//   text             a plain text file
//   random           256 KiB of seeded pseudo-random bytes
//   truncated_mp4    the first half of an MP4 whose index (moov) is at the end
//   truncated_m4a    the first half of a faststart M4A (index first, audio cut)
//   truncated_mp3    the first half of an MP3 with a LAME/Xing header
//   truncated_ogg    the first half of an OGG/Opus voice note (ends mid-page)
//   truncated_wav    the first half of a WAV (data chunk size says twice as much)
//   truncated_flac   the first half of a FLAC (STREAMINFO says twice as much)
//   truncated_webm   the first half of a VP9+Opus WebM (DURATION tags say twice as much)
//   video_only       an H.264 MP4 without audio
//   lying_flac_long  a 14.6 s FLAC whose STREAMINFO claims 60 s
//   lying_flac_huge  the same claiming 100 hours
//   flac_bomb        14 KB of FLAC that decodes to one hour of silence, length undeclared
//   unknown_codec    a WAV whose format tag (0x3fff) no decoder knows
const std::vector<std::string>& bad_sample_names();
Result<std::filesystem::path> bad_sample(std::string_view name);

// The first `share` (0..1) of the file's bytes, as a cached file next to the other samples.
Result<std::filesystem::path> truncated_copy(const std::filesystem::path& src, double share);

// `minutes` of the speech sample looped, as a 16 kb/s mono OGG/Opus voice note. Beyond one
// minute, copies of the one-minute note joined: each join adds ~0.02 s to the duration_s.
Result<MediaSample> long_voice_note(int minutes);

// Runs a tool found on PATH; on failure the error carries its stderr. stdout goes to
// `stdout_to` when given.
Result<void> run_tool(const std::vector<std::string>& argv,
                      const std::filesystem::path& stdout_to = {});

}  // namespace soroka::test

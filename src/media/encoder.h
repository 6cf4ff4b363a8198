// encode_flac, encode_wav: 16 kHz mono PCM as a file in memory, for upload to a remote engine.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "util/result.h"

namespace soroka::media {

// A whole FLAC stream (fLaC header, frames) of `pcm` at `sample_rate`, mono, 16 bit. Speech
// compresses to ~45-60% of the PCM: 16 kHz is 32 KB/s raw, ~15-20 KB/s as FLAC. Memory: the
// output plus FFmpeg's encoder state (~100 KB). Thread-safe (no shared state).
Result<std::string> encode_flac(std::span<const std::int16_t> pcm, int sample_rate);

// A WAV file (RIFF, PCM 16 bit mono) of `pcm`: 44 bytes of header and the samples, for servers
// that read nothing else (whisper.cpp's server without --convert). Pure.
std::string encode_wav(std::span<const std::int16_t> pcm, int sample_rate);

}  // namespace soroka::media

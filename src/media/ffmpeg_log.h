// FFmpeg's process-wide setup: its log routed to spdlog at debug, a cap on any one allocation.
#pragma once

#include <cstddef>

namespace soroka::media::ff {

// No single FFmpeg allocation may exceed this: a header that declares a gigabyte-sized table
// or packet fails with ENOMEM instead of growing the process. A 4 h 1080p MP4 needs < 30 MB
// of index (about 1.1 M entries of 24 bytes), our largest legitimate allocation.
inline constexpr std::size_t kMaxSingleAlloc = std::size_t{128} << 20;

// Idempotent and thread-safe; every entry point of soroka_media calls it. Process-wide effects:
// av_log callback (FFmpeg warnings and errors go to spdlog debug, nothing to stderr) and
// av_max_alloc(kMaxSingleAlloc).
void setup_once();

}  // namespace soroka::media::ff

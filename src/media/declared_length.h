// What a container's own bytes say about its length where FFmpeg does not tell us: the WAV
// data-chunk size, an Ogg file's last page, Matroska's per-track DURATION tag. Pure parsers.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace soroka::media::detail {

// Seconds of audio the WAV header's data chunk declares, from the first bytes of the file
// (the data chunk header is normally within the first few KB). nullopt when the header does
// not say: no data chunk in `head`, a compressed format, or a streaming placeholder size.
std::optional<double> wav_declared_seconds(std::span<const std::uint8_t> head);

// True when the last Ogg page in `tail` (the final bytes of a file of `file_size` bytes,
// starting at `tail_offset`) runs past the end of the file: the file was cut mid-page.
bool ogg_cut_mid_page(std::span<const std::uint8_t> tail, std::uint64_t tail_offset,
                      std::uint64_t file_size);

// "00:01:02.500000000" (Matroska DURATION tag, as FFmpeg and mkvmerge write it) -> 62.5.
std::optional<double> parse_duration_tag(std::string_view text);

}  // namespace soroka::media::detail

// What a container's own bytes say about its length where FFmpeg does not tell us: the WAV
// data-chunk size, the last Ogg page, the last MP3 or ADTS frame, MP4 box and Matroska
// Segment sizes, Matroska's per-track DURATION tag. Pure parsers.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace soroka::media::detail {

// Seconds of audio the WAV header's data chunk declares, from the first bytes of the file
// (the data chunk header is normally within the first few KB). nullopt when the header does
// not say: no data chunk in `head`, a compressed format, or a streaming placeholder size.
std::optional<double> wav_declared_seconds(std::span<const std::uint8_t> head);

// True when the last Ogg page in `tail` (the final bytes of a file of `file_size` bytes,
// starting at `tail_offset`) runs past the end of the file, or is followed by only the start
// of the next page's "OggS": the file was cut mid-page.
bool ogg_cut_mid_page(std::span<const std::uint8_t> tail, std::uint64_t tail_offset,
                      std::uint64_t file_size);

// Up to `n` bytes of the file from `offset` (fewer at its end).
using ReadAt = std::function<std::vector<std::uint8_t>(std::uint64_t offset, std::size_t n)>;

// True when the top-level boxes of an MP4/MOV file (ftyp, moov, mdat, ...), walked by their
// sizes, run past `file_size`: the file was cut short. A box of size 0 ("to the end of the
// file") or a malformed size ends the walk with false: nothing is declared.
bool mp4_boxes_cut_short(const ReadAt& read_at, std::uint64_t file_size);

// Where a Matroska/WebM Segment ends by its declared size, from the first bytes of the file
// (EBML header, then the Segment element). nullopt when the size is "unknown" (live writers,
// browsers' MediaRecorder) or the head does not parse.
std::optional<std::uint64_t> matroska_segment_end(std::span<const std::uint8_t> head);

// True when the MPEG audio frames at the end of an MP3 (`tail`, the final bytes of a file of
// `file_size` bytes, starting at `tail_offset`) run past the end: the last frame was cut.
// The frames are found as a chain of at least four headers whose lengths lead from one to the
// next; junk or a tag (ID3v1, APE) after the last frame ends the chain with false.
bool mp3_last_frame_cut(std::span<const std::uint8_t> tail, std::uint64_t tail_offset,
                        std::uint64_t file_size);
// The same for raw AAC in ADTS frames (each header states its frame's length).
bool adts_last_frame_cut(std::span<const std::uint8_t> tail, std::uint64_t tail_offset,
                         std::uint64_t file_size);

// "00:01:02.500000000" (Matroska DURATION tag, as FFmpeg and mkvmerge write it) -> 62.5.
std::optional<double> parse_duration_tag(std::string_view text);

}  // namespace soroka::media::detail

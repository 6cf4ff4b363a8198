// What a container's own bytes say about its length where FFmpeg does not tell us: the WAV
// data-chunk size, an Ogg file's last page, Matroska's per-track DURATION tag. Pure parsers.
#include "media/declared_length.h"

#include <charconv>
#include <cstring>

namespace soroka::media::detail {

namespace {

std::uint32_t le32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
         std::uint32_t{p[3]} << 24;
}
std::uint16_t le16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] | p[1] << 8);
}

// Writers that do not know the length yet put 0, 0xFFFFFFFF or a near-2 GiB value there.
constexpr std::uint32_t kPlaceholderSize = 0x7FFF0000;

// WAVE_FORMAT_PCM, _IEEE_FLOAT, _ALAW, _MULAW, _EXTENSIBLE: constant bytes per second.
bool constant_rate_format(std::uint16_t tag) {
  return tag == 1 || tag == 3 || tag == 6 || tag == 7 || tag == 0xFFFE;
}

// Ogg pages: "OggS", version 0, header type, ..., segment count at byte 26, then the lacing
// table; the largest page is 27 + 255 + 255 * 255 bytes.
constexpr std::size_t kOggHeader = 27;

}  // namespace

std::optional<double> wav_declared_seconds(std::span<const std::uint8_t> head) {
  if (head.size() < 12 || std::memcmp(head.data(), "RIFF", 4) != 0 ||
      std::memcmp(head.data() + 8, "WAVE", 4) != 0)
    return std::nullopt;
  std::uint32_t byte_rate = 0;
  std::size_t pos = 12;
  while (pos + 8 <= head.size()) {
    const std::uint8_t* chunk = head.data() + pos;
    std::uint32_t size = le32(chunk + 4);
    if (std::memcmp(chunk, "fmt ", 4) == 0) {
      if (size < 16 || pos + 8 + 16 > head.size()) return std::nullopt;
      if (!constant_rate_format(le16(chunk + 8))) return std::nullopt;
      byte_rate = le32(chunk + 16);
    } else if (std::memcmp(chunk, "data", 4) == 0) {
      if (byte_rate == 0 || size == 0 || size >= kPlaceholderSize) return std::nullopt;
      return static_cast<double>(size) / byte_rate;
    }
    pos += 8 + std::size_t{size} + (size & 1);  // chunks are word-aligned
  }
  return std::nullopt;
}

bool ogg_cut_mid_page(std::span<const std::uint8_t> tail, std::uint64_t tail_offset,
                      std::uint64_t file_size) {
  if (tail.size() < 4) return false;
  for (std::size_t i = tail.size() - 4 + 1; i-- > 0;) {
    if (std::memcmp(tail.data() + i, "OggS", 4) != 0) continue;
    // The last capture pattern: a page header that is itself cut off counts as a cut page.
    if (i + kOggHeader > tail.size()) return true;
    const std::uint8_t* page = tail.data() + i;
    if (page[4] != 0) continue;  // not version 0: "OggS" inside a packet, keep looking
    std::size_t segments = page[26];
    if (i + kOggHeader + segments > tail.size()) return true;
    std::uint64_t length = kOggHeader + segments;
    for (std::size_t s = 0; s < segments; ++s) length += page[kOggHeader + s];
    return tail_offset + i + length > file_size;
  }
  return false;
}

std::optional<double> parse_duration_tag(std::string_view text) {
  // HH:MM:SS(.fraction)
  unsigned h = 0, m = 0;
  const char* p = text.data();
  const char* e = text.data() + text.size();
  auto r = std::from_chars(p, e, h);
  if (r.ec != std::errc{} || r.ptr == e || *r.ptr != ':') return std::nullopt;
  r = std::from_chars(r.ptr + 1, e, m);
  if (r.ec != std::errc{} || r.ptr == e || *r.ptr != ':' || m >= 60) return std::nullopt;
  double s = 0;
  auto rs = std::from_chars(r.ptr + 1, e, s, std::chars_format::fixed);
  if (rs.ec != std::errc{} || rs.ptr != e || s < 0 || s >= 60) return std::nullopt;
  return h * 3600.0 + m * 60.0 + s;
}

}  // namespace soroka::media::detail

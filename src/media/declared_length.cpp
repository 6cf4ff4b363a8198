// What a container's own bytes say about its length where FFmpeg does not tell us: the WAV
// data-chunk size, the last Ogg page, the last MP3 or ADTS frame, MP4 box and Matroska
// Segment sizes, Matroska's per-track DURATION tag. Pure parsers.
#include "media/declared_length.h"

#include <algorithm>
#include <bit>
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
std::uint64_t be(const std::uint8_t* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = v << 8 | p[i];
  return v;
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
    const std::uint64_t end = tail_offset + i + length;
    if (end > file_size) return true;
    // 1-3 bytes after the last whole page that begin "OggS": the next page, cut inside its
    // capture pattern (a cut 2 bytes past a page boundary read as a clean, shorter file).
    const auto rest = static_cast<std::size_t>(file_size - end);
    return rest > 0 && rest < 4 && std::memcmp(tail.data() + i + length, "OggS", rest) == 0;
  }
  return false;
}

namespace {

// MP4 box header: 32-bit size, type; size 1 means a 64-bit size follows, 0 "to the end".
constexpr int kMaxTopLevelBoxes = 1024;

// EBML IDs (marker bits kept) of the header and the Segment that follows it.
constexpr std::uint64_t kEbmlId = 0x1A45DFA3;
constexpr std::uint64_t kSegmentId = 0x18538067;

struct Vint {
  std::uint64_t value = 0;
  std::size_t length = 0;
  bool all_ones = false;  // a size of all ones: "unknown"
};

// An EBML variable-length integer at `p`: the leading zeros of the first byte give its length.
std::optional<Vint> read_vint(std::span<const std::uint8_t> p, bool keep_marker) {
  if (p.empty() || p[0] == 0) return std::nullopt;
  std::size_t length = static_cast<std::size_t>(std::countl_zero(p[0])) + 1;
  if (length > 8 || p.size() < length) return std::nullopt;
  std::uint64_t v = be(p.data(), static_cast<int>(length));
  std::uint64_t value_bits = (std::uint64_t{1} << (7 * length)) - 1;
  Vint r{keep_marker ? v : (v & value_bits), length, (v & value_bits) == value_bits};
  return r;
}

// Top-level box types are four printable ASCII characters ("ftyp", "moov", "mdat", "free").
bool box_type(const std::uint8_t* t) {
  return std::all_of(t, t + 4, [](std::uint8_t c) { return c >= 0x20 && c < 0x7F; });
}

}  // namespace

bool mp4_boxes_cut_short(const ReadAt& read_at, std::uint64_t file_size) {
  std::uint64_t pos = 0;
  for (int i = 0; i < kMaxTopLevelBoxes && pos + 8 <= file_size; ++i) {
    std::vector<std::uint8_t> h = read_at(pos, 16);
    if (h.size() < 8 || !box_type(h.data() + 4)) return false;  // junk after the last box
    std::uint64_t size = be(h.data(), 4);
    std::uint64_t header = 8;
    if (size == 1) {
      if (h.size() < 16) return true;  // a large-size header cut off
      size = be(h.data() + 8, 8);
      header = 16;
    }
    if (size == 0) return false;  // the last box runs to the end, whatever that is
    if (size < header) return false;
    pos += size;
  }
  return pos > file_size;
}

std::optional<std::uint64_t> matroska_segment_end(std::span<const std::uint8_t> head) {
  std::size_t pos = 0;
  for (int element = 0; element < 4; ++element) {  // EBML header, maybe a Void, Segment
    auto id = read_vint(head.subspan(std::min(pos, head.size())), true);
    if (!id) return std::nullopt;
    auto size = read_vint(head.subspan(std::min(pos + id->length, head.size())), false);
    if (!size) return std::nullopt;
    std::uint64_t data = pos + id->length + size->length;
    if (element == 0 && id->value != kEbmlId) return std::nullopt;
    if (id->value == kSegmentId) {
      if (size->all_ones) return std::nullopt;
      return data + size->value;
    }
    if (size->all_ones || data + size->value > head.size()) return std::nullopt;
    pos = static_cast<std::size_t>(data + size->value);
  }
  return std::nullopt;
}

namespace {

// MPEG audio frame headers: 11 sync bits, version (2), layer (2), CRC (1), bitrate index (4),
// sample rate index (2), padding (1), ... Bitrates in kb/s by [MPEG-1?][layer III/II/I][index].
constexpr int kBitrates[2][3][16] = {
    {{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0},
     {0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0},
     {0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256, 0}},
    {{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0},
     {0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 0},
     {0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448, 0}}};
constexpr int kMpeg1Rates[3] = {44100, 48000, 32000};
constexpr int kMinChain = 4;  // headers in a row before the chain is believed

struct MpegFrame {
  std::uint32_t format = 0;  // version, layer and sample rate bits: equal along a stream
  std::size_t length = 0;
};

std::optional<MpegFrame> mpeg_frame(const std::uint8_t* h) {
  if (h[0] != 0xFF || (h[1] & 0xE0) != 0xE0) return std::nullopt;
  int version = h[1] >> 3 & 3;  // 0: MPEG-2.5, 2: MPEG-2, 3: MPEG-1
  int layer = h[1] >> 1 & 3;    // 1: III, 2: II, 3: I
  int bitrate_index = h[2] >> 4, rate_index = h[2] >> 2 & 3, padding = h[2] >> 1 & 1;
  if (version == 1 || layer == 0 || rate_index == 3 || bitrate_index == 0 || bitrate_index == 15)
    return std::nullopt;
  bool mpeg1 = version == 3;
  int rate = kMpeg1Rates[rate_index] >> (mpeg1 ? 0 : version == 2 ? 1 : 2);
  long bitrate = kBitrates[mpeg1][layer - 1][bitrate_index] * 1000L;
  long length = layer == 3 ? (12 * bitrate / rate + padding) * 4
                           : (layer == 1 && !mpeg1 ? 72 : 144) * bitrate / rate + padding;
  std::uint32_t format = std::uint32_t{h[1]} << 8 | (h[2] & 0x0C);
  return MpegFrame{format, static_cast<std::size_t>(length)};
}

// ADTS: 12 sync bits, ID, layer (0), ..., profile, rate index, ..., channels, then a 13-bit
// frame length that counts the 7- or 9-byte header.
std::optional<MpegFrame> adts_frame(const std::uint8_t* h) {
  if (h[0] != 0xFF || (h[1] & 0xF6) != 0xF0) return std::nullopt;
  std::size_t length = std::size_t{h[3] & 3u} << 11 | std::size_t{h[4]} << 3 | h[5] >> 5;
  if (length < 7) return std::nullopt;
  std::uint32_t format = std::uint32_t{h[1]} << 16 | std::uint32_t{h[2]} << 8 | (h[3] & 0xC0);
  return MpegFrame{format, length};
}

using FrameParser = std::optional<MpegFrame> (*)(const std::uint8_t*);
constexpr std::size_t kLongestHeader = 7;  // read before parsing: ADTS; MP3 needs 4

// The number of consistent frames chained from `pos`, and where the chain stops.
std::size_t chain_end(std::span<const std::uint8_t> tail, std::size_t pos, FrameParser parse,
                      int* count) {
  std::optional<std::uint32_t> format;
  *count = 0;
  while (pos + kLongestHeader <= tail.size()) {
    auto f = parse(tail.data() + pos);
    if (!f || (format && *format != f->format)) break;
    format = f->format;
    ++*count;
    pos += f->length;
  }
  return pos;
}

// Finds the first chain of kMinChain frames in `tail` and follows it: true when its last
// frame runs past the end of the file.
bool last_frame_cut(std::span<const std::uint8_t> tail, std::uint64_t tail_offset,
                    std::uint64_t file_size, FrameParser parse) {
  for (std::size_t i = 0; i + kLongestHeader <= tail.size(); ++i) {
    int count = 0;
    std::size_t end = chain_end(tail, i, parse, &count);
    if (count < kMinChain) continue;
    return tail_offset + end > file_size;
  }
  return false;
}

}  // namespace

bool mp3_last_frame_cut(std::span<const std::uint8_t> tail, std::uint64_t tail_offset,
                        std::uint64_t file_size) {
  return last_frame_cut(tail, tail_offset, file_size, &mpeg_frame);
}

bool adts_last_frame_cut(std::span<const std::uint8_t> tail, std::uint64_t tail_offset,
                         std::uint64_t file_size) {
  return last_frame_cut(tail, tail_offset, file_size, &adts_frame);
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

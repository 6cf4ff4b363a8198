// The pure parsers behind truncation detection: WAV data-chunk size, Ogg's last page, MP4 box
// and Matroska Segment sizes, Matroska DURATION tags.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "media/declared_length.h"

namespace soroka::media::detail {
namespace {

std::vector<std::uint8_t> bytes(const std::string& s) {
  return {s.begin(), s.end()};
}

std::string le32(std::uint32_t v) {
  return {static_cast<char>(v & 0xff), static_cast<char>(v >> 8 & 0xff),
          static_cast<char>(v >> 16 & 0xff), static_cast<char>(v >> 24)};
}
std::string le16(std::uint16_t v) {
  return {static_cast<char>(v & 0xff), static_cast<char>(v >> 8)};
}

// RIFF/WAVE with a 16-byte fmt chunk (as sox and flite write it), optional LIST, then data.
std::string wav_header(std::uint16_t tag, std::uint32_t byte_rate, std::uint32_t data_size,
                       bool list = false) {
  std::string h = "RIFF" + le32(36 + data_size) + "WAVE";
  h += "fmt " + le32(16) + le16(tag) + le16(1) + le32(byte_rate / 2) + le32(byte_rate) + le16(2) +
       le16(16);
  if (list) h += "LIST" + le32(5) + "INFOx" + std::string(1, '\0');  // odd size, padded
  return h + "data" + le32(data_size);
}

TEST(WavDeclared, PcmDataSizeOverByteRate) {
  EXPECT_DOUBLE_EQ(wav_declared_seconds(bytes(wav_header(1, 32000, 32000 * 14))).value_or(-1),
                   14.0);
  EXPECT_DOUBLE_EQ(
      wav_declared_seconds(bytes(wav_header(0xFFFE, 176400, 88200, true))).value_or(-1), 0.5);
}

TEST(WavDeclared, UnknownWhenTheHeaderDoesNotSay) {
  EXPECT_FALSE(wav_declared_seconds(bytes(wav_header(1, 32000, 0))));           // streaming writer
  EXPECT_FALSE(wav_declared_seconds(bytes(wav_header(1, 32000, 0xFFFFFFFF))));  // ditto
  EXPECT_FALSE(
      wav_declared_seconds(bytes(wav_header(0x11, 32000, 32000))));  // IMA ADPCM: not exact
  EXPECT_FALSE(wav_declared_seconds(bytes(wav_header(1, 0, 32000))));
  EXPECT_FALSE(wav_declared_seconds(bytes("RIFF" + le32(100) + "AVI ")));
  std::string h = wav_header(1, 32000, 64000);
  EXPECT_FALSE(wav_declared_seconds(bytes(h.substr(0, h.size() - 8))));  // data chunk beyond `head`
}

// An Ogg page with `payload` bytes in one lacing run (255-byte segments and a remainder).
std::string ogg_page(std::size_t payload) {
  std::string lacing(payload / 255, '\xff');
  lacing += static_cast<char>(payload % 255);
  std::string p = "OggS";
  p += std::string(1, '\0') + std::string(1, '\4') + std::string(20, '\0');  // version, EOS, rest
  p += static_cast<char>(lacing.size());
  return p + lacing + std::string(payload, 'x');
}

TEST(OggTail, CompleteLastPageIsNotCut) {
  std::string file = ogg_page(1000) + ogg_page(300);
  EXPECT_FALSE(ogg_cut_mid_page(bytes(file), 0, file.size()));
  // Only the tail is given: offsets are relative to the whole file.
  std::string tail = file.substr(500);
  EXPECT_FALSE(ogg_cut_mid_page(bytes(tail), 500, file.size()));
}

TEST(OggTail, PageRunningPastTheEndIsCut) {
  std::string file = ogg_page(1000) + ogg_page(3000);
  for (std::size_t cut : {file.size() - 1, file.size() - 2999, file.size() - 3000 - 10}) {
    std::string head = file.substr(0, cut);
    EXPECT_TRUE(ogg_cut_mid_page(bytes(head), 0, head.size())) << "cut at " << cut;
  }
}

TEST(OggTail, ACutInsideTheNextPagesCapturePatternIsCut) {
  // A cut 1-3 bytes past a page boundary leaves "O", "Og" or "Ogg": seen in a generated
  // voice note cut at 80 % (2 bytes past a page), which the decoder took for a clean end.
  std::string file = ogg_page(1000) + ogg_page(3000);
  for (std::size_t extra : {1u, 2u, 3u}) {
    const std::string head = file.substr(0, ogg_page(1000).size() + extra);
    EXPECT_TRUE(ogg_cut_mid_page(bytes(head), 0, head.size())) << extra << " bytes of the next page";
  }
  std::string junk = ogg_page(1000) + "xy";  // not the start of a page: nothing to tell
  EXPECT_FALSE(ogg_cut_mid_page(bytes(junk), 0, junk.size()));
}

TEST(OggTail, OggSInsideAPacketIsSkipped) {
  // "OggS" with a non-zero version byte inside the last page's payload is not a page.
  std::string page = ogg_page(400);
  page.replace(page.size() - 50, 6, std::string("OggS\x07\x00", 6));
  std::string file = ogg_page(100) + page;
  EXPECT_FALSE(ogg_cut_mid_page(bytes(file), 0, file.size()));
}

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16 & 0xff),
          static_cast<char>(v >> 8 & 0xff), static_cast<char>(v & 0xff)};
}

std::string box(const std::string& type, std::size_t payload) {
  return be32(static_cast<std::uint32_t>(8 + payload)) + type + std::string(payload, '\0');
}

ReadAt reader(const std::string& file) {
  return [file](std::uint64_t offset, std::size_t n) {
    if (offset >= file.size()) return std::vector<std::uint8_t>{};
    return bytes(file.substr(static_cast<std::size_t>(offset), n));
  };
}

TEST(Mp4Boxes, CompleteFileIsNotCut) {
  std::string file = box("ftyp", 24) + box("moov", 700) + box("mdat", 5000);
  EXPECT_FALSE(mp4_boxes_cut_short(reader(file), file.size()));
  // A 64-bit mdat size, and a last box "to the end of the file" (size 0).
  std::string large = box("ftyp", 24) + be32(1) + "mdat" + std::string(4, '\0') + be32(16 + 300) +
                      std::string(300, 'x');
  EXPECT_FALSE(mp4_boxes_cut_short(reader(large), large.size()));
  std::string open_ended = box("ftyp", 24) + be32(0) + "mdat" + std::string(300, 'x');
  EXPECT_FALSE(mp4_boxes_cut_short(reader(open_ended), open_ended.size()));
  // Junk after the last box is not a box that runs past the end.
  std::string junk = file + std::string("\x7f\x01\x02\x03\x80\x81\x82\x83\x84\x85", 10);
  EXPECT_FALSE(mp4_boxes_cut_short(reader(junk), junk.size()));
}

TEST(Mp4Boxes, BoxRunningPastTheEndIsCut) {
  std::string file = box("ftyp", 24) + box("moov", 700) + box("mdat", 5000);
  for (std::size_t cut : {file.size() - 1, file.size() - 4000, std::size_t{300}}) {
    std::string head = file.substr(0, cut);
    EXPECT_TRUE(mp4_boxes_cut_short(reader(head), head.size())) << "cut at " << cut;
  }
}

// EBML header (ID 1A45DFA3, 1-byte size) then a Segment (ID 18538067) with an 8-byte size.
std::string mkv_head(std::uint64_t segment_size, bool unknown = false) {
  std::string h = "\x1a\x45\xdf\xa3\x84" + std::string(4, 'e');
  h += "\x18\x53\x80\x67";
  h += unknown ? std::string("\x01\xff\xff\xff\xff\xff\xff\xff", 8)
               : "\x01" + std::string(3, '\0') + be32(static_cast<std::uint32_t>(segment_size));
  return h;
}

TEST(MatroskaSegment, EndIsItsDataStartPlusSize) {
  std::string h = mkv_head(100000);
  EXPECT_EQ(matroska_segment_end(bytes(h)).value_or(0), h.size() + 100000);
  EXPECT_FALSE(matroska_segment_end(bytes(mkv_head(0, true))));  // live writer: unknown size
  EXPECT_FALSE(matroska_segment_end(bytes("RIFF....WAVE")));
  EXPECT_FALSE(matroska_segment_end(bytes(h.substr(0, 12))));
}

// MPEG-1 Layer III, 128 kb/s, 44.1 kHz, no padding: 417-byte frames.
std::string mp3_frames(int n) {
  std::string frame = std::string("\xff\xfb\x90\x00", 4) + std::string(413, '\x55');
  std::string s;
  for (int i = 0; i < n; ++i) s += frame;
  return s;
}

TEST(Mp3Tail, CompleteFramesOrATagAfterThemAreNotCut) {
  std::string file = "ID3junk" + mp3_frames(10);
  EXPECT_FALSE(mp3_last_frame_cut(bytes(file), 0, file.size()));
  std::string padded = file + std::string(4096, '\0');
  EXPECT_FALSE(mp3_last_frame_cut(bytes(padded), 0, padded.size()));
  std::string tagged = file + "TAG" + std::string(125, ' ');  // ID3v1
  EXPECT_FALSE(mp3_last_frame_cut(bytes(tagged), 0, tagged.size()));
  std::string tail = file.substr(1000);  // starts mid-frame: the chain is found after it
  EXPECT_FALSE(mp3_last_frame_cut(bytes(tail), 1000, file.size()));
}

TEST(Mp3Tail, LastFrameRunningPastTheEndIsCut) {
  std::string file = mp3_frames(10);
  for (std::size_t cut : {file.size() - 1, file.size() - 400, file.size() - 417 - 100}) {
    std::string head = file.substr(0, cut);
    EXPECT_TRUE(mp3_last_frame_cut(bytes(head), 0, head.size())) << "cut at " << cut;
  }
  std::string three = mp3_frames(3).substr(0, 1000);  // too short a chain to believe
  EXPECT_FALSE(mp3_last_frame_cut(bytes(three), 0, three.size()));
}

// AAC-LC, 48 kHz, stereo ADTS frames of 300 bytes (7-byte header, no CRC).
std::string adts_frames(int n) {
  constexpr std::size_t kLength = 300;
  std::string header = {'\xff',
                        '\xf1',
                        '\x4c',
                        static_cast<char>(0x80 | kLength >> 11),
                        static_cast<char>(kLength >> 3 & 0xff),
                        static_cast<char>((kLength & 7) << 5 | 0x1f),
                        '\xfc'};
  std::string s;
  for (int i = 0; i < n; ++i) s += header + std::string(kLength - 7, '\x21');
  return s;
}

TEST(AdtsTail, CompleteOrPaddedIsNotCutAndAFramePastTheEndIs) {
  std::string file = adts_frames(12);
  EXPECT_FALSE(adts_last_frame_cut(bytes(file), 0, file.size()));
  std::string padded = file + std::string(4096, '\0');
  EXPECT_FALSE(adts_last_frame_cut(bytes(padded), 0, padded.size()));
  for (std::size_t cut : {file.size() - 1, file.size() - 290, file.size() - 300 - 50}) {
    std::string head = file.substr(0, cut);
    EXPECT_TRUE(adts_last_frame_cut(bytes(head), 0, head.size())) << "cut at " << cut;
  }
}

TEST(DurationTag, MatroskaFormat) {
  EXPECT_DOUBLE_EQ(parse_duration_tag("00:00:14.634000000").value_or(-1), 14.634);
  EXPECT_DOUBLE_EQ(parse_duration_tag("01:02:03.5").value_or(-1), 3723.5);
  EXPECT_DOUBLE_EQ(parse_duration_tag("00:00:07").value_or(-1), 7.0);
  EXPECT_FALSE(parse_duration_tag(""));
  EXPECT_FALSE(parse_duration_tag("14.6"));
  EXPECT_FALSE(parse_duration_tag("00:61:00.0"));
  EXPECT_FALSE(parse_duration_tag("00:00:14.6 s"));
}

}  // namespace
}  // namespace soroka::media::detail

// The pure parsers behind truncation detection: WAV data-chunk size, Ogg's last page,
// Matroska DURATION tags.
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

TEST(OggTail, OggSInsideAPacketIsSkipped) {
  // "OggS" with a non-zero version byte inside the last page's payload is not a page.
  std::string page = ogg_page(400);
  page.replace(page.size() - 50, 6, std::string("OggS\x07\x00", 6));
  std::string file = ogg_page(100) + page;
  EXPECT_FALSE(ogg_cut_mid_page(bytes(file), 0, file.size()));
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

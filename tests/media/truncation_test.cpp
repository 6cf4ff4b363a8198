// Truncation sweep: every accepted container, cut at several points, fails with "truncated or
// corrupt at N s" within seconds, or (only where nothing declares the length) ends cleanly.
#include <unistd.h>

#include <gtest/gtest.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "media/decoder.h"
#include "support/media_fixtures.h"

namespace soroka::media {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A cut file is refused or ended well within this; the bound only catches hangs and loops.
constexpr double kMaxWallSeconds = 5.0;
// The position in the error is where the delivered audio ends (one print rounding, 0.05 s).
constexpr double kPositionTolerance = 0.06;
// Bytes and seconds are proportional only roughly: headers, the index, video between the audio.
constexpr double kShareTolerance = 0.2;
// Containers hand over audio in whole pages or clusters (ffmpeg's Ogg pages hold up to 1 s),
// and variable bitrate makes bytes and seconds only roughly proportional: the share may be
// off by kShareTolerance plus one such unit of the file's length.
constexpr double kUnitSeconds = 1.0;
// The uncut control decodes to the source length within encoder priming and padding.
constexpr double kFullTolerance = 0.1;

constexpr std::string_view kTruncated = "truncated or corrupt at ";

// What the container lets a reader know about a file cut short.
//
// kLength: every cut is caught, by the declared duration (FLAC STREAMINFO, WAV data size and
// MP3 Xing/VBRI frame count to within 0.1 s; MP4 mdhd, Matroska DURATION tags, the last Ogg
// granule to within 0.5 s or 2 %) or, for a cut in the last half second, by a declared byte
// length running past the end of the file (Ogg page, MP4 top-level box, Matroska Segment,
// last MP3 frame).
//
// kNothing: no length is declared anywhere. MP3 and ADTS frames state their own lengths, so a
// cut that splits the last frame is caught (its length runs past the end of the file); these
// end cleanly with the audio the bytes hold, as a complete file would:
//   - MP3 without a Xing/VBRI frame, or raw ADTS, cut exactly between frames or within the
//     first 6 bytes of a frame header;
//   - FLAC written to a pipe (no total samples) cut anywhere, and WAV written to a pipe
//     (placeholder data size) cut anywhere: the decoder rejects a split last frame or sample
//     block, but it rejects zeros or junk after the last frame the same way, and a complete
//     file with padding must not fail (TrailingBytesAreNotACut);
//   - Ogg cut exactly after a page (OggCutAtAPageBoundaryEndsCleanlyShorter);
//   - Matroska/WebM from live writers (MediaRecorder: unknown Segment size, no Duration) cut
//     between blocks (no such fixture here).
enum class Knows {
  kIndexAtEnd,  // MP4/MOV/M4A with moov last: the cut file has no index, refused at open
  kLength,      // the header declares the length or byte size: every cut is an error
  kNothing,     // no length anywhere: a cut between frames ends cleanly, shorter
};

struct CutCase {
  std::string sample;
  Knows knows;
};

void PrintTo(const CutCase& c, std::ostream* os) {
  *os << c.sample;
}

struct Outcome {
  bool opened = false;
  std::string error;   // empty when the stream ended cleanly
  double seconds = 0;  // audio delivered
  double wall_s = 0;
};

Outcome decode_all(const fs::path& path) {
  Outcome o;
  auto t0 = Clock::now();
  auto dec = AudioDecoder::open(path.string());
  if (dec) {
    o.opened = true;
    std::vector<std::int16_t> buf(4000);
    for (;;) {
      auto r = dec->read(buf);
      if (!r) o.error = r.error().message;
      if (!r || *r == 0) break;
    }
    o.seconds = dec->position_s();
  } else {
    o.error = dec.error().message;
  }
  o.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  return o;
}

// "truncated or corrupt at 2.3 s" -> 2.3; -1 for any other message.
double truncated_at(const std::string& message) {
  if (!message.starts_with(kTruncated)) return -1;
  double v = -1;
  const char* p = message.data() + kTruncated.size();
  std::from_chars(p, message.data() + message.size(), v);
  return v;
}

std::string describe(const Outcome& o) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s; %.2f s delivered in %.3f s",
                o.error.empty() ? "ended cleanly" : o.error.c_str(), o.seconds, o.wall_s);
  return buf;
}

class Truncation : public ::testing::TestWithParam<CutCase> {};

// The truncation error names where the delivered audio ends, and that is about as far into
// the source as the cut is into the file.
void expect_truncation_error(const Outcome& o, const CutCase& c, double share, double full_s) {
  double at = truncated_at(o.error);
  ASSERT_GE(at, 0) << "expected '" << kTruncated << "N s', got: " << describe(o);
  EXPECT_NEAR(o.seconds, at, kPositionTolerance) << describe(o);
  if (c.knows == Knows::kIndexAtEnd) {
    EXPECT_FALSE(o.opened) << describe(o);
    EXPECT_EQ(at, 0.0);
  } else {
    EXPECT_NEAR(at / full_s, share, kShareTolerance + kUnitSeconds / full_s) << describe(o);
  }
}

TEST_P(Truncation, EveryCutIsAnErrorOrACleanShorterEnd) {
  if (auto why = test::missing_media_tools(); !why.empty()) GTEST_SKIP() << why;
  const CutCase& c = GetParam();
  auto speech = test::short_speech_sample();
  ASSERT_TRUE(speech) << speech.error().message;
  auto sample = test::container_sample(c.sample, *speech);
  ASSERT_TRUE(sample) << sample.error().message;

  // The uncut file is the control: no false alarm, full length.
  Outcome full = decode_all(sample->path);
  ASSERT_EQ(full.error, "") << describe(full);
  ASSERT_NEAR(full.seconds, speech->duration_s, kFullTolerance);

  for (double share : {0.30, 0.55, 0.80, 0.97}) {
    auto cut = test::truncated_copy(sample->path, share);
    ASSERT_TRUE(cut) << cut.error().message;
    Outcome o = decode_all(*cut);
    std::printf("[ cut      ] %-16s %3.0f%%: %s\n", c.sample.c_str(), share * 100,
                describe(o).c_str());
    SCOPED_TRACE(c.sample + " cut at " + std::to_string(share));
    EXPECT_LT(o.wall_s, kMaxWallSeconds);
    EXPECT_LE(o.seconds, full.seconds + kFullTolerance);
    if (c.knows == Knows::kNothing && o.error.empty()) {
      // Nothing could tell: what was delivered is what the bytes hold.
      EXPECT_NEAR(o.seconds / full.seconds, share, kShareTolerance + kUnitSeconds / full.seconds) << describe(o);
    } else {
      expect_truncation_error(o, c, share, full.seconds);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Media, Truncation,
    ::testing::Values(CutCase{"ogg_opus", Knows::kLength},  // mid-page; see the page-end test
                      CutCase{"mp3", Knows::kLength},       // Xing/Info frame count
                      CutCase{"m4a", Knows::kIndexAtEnd},
                      CutCase{"wav", Knows::kLength},   // data chunk size
                      CutCase{"flac", Knows::kLength},  // STREAMINFO total samples
                      CutCase{"mp4", Knows::kIndexAtEnd},
                      CutCase{"mkv", Knows::kLength},  // Segment size, DURATION tags
                      CutCase{"webm_vp8_vorbis", Knows::kLength},
                      CutCase{"webm_vp9_opus", Knows::kLength}, CutCase{"mov", Knows::kIndexAtEnd},
                      CutCase{"video_note", Knows::kLength},  // faststart: mdhd, mdat size
                      CutCase{"mp3_no_xing", Knows::kNothing}, CutCase{"aac_adts", Knows::kNothing},
                      CutCase{"wav_streamed", Knows::kNothing},
                      CutCase{"flac_streamed", Knows::kNothing}),
    [](const auto& info) { return info.param.sample; });

// The other side of the coin: bytes after the last frame (zero padding from a copy tool, a
// stray byte or three) are not a cut. Each complete sample with 4 KiB of zeros or 3 junk bytes
// appended must still end cleanly with all its audio.
TEST_P(Truncation, TrailingBytesAreNotACut) {
  if (auto why = test::missing_media_tools(); !why.empty()) GTEST_SKIP() << why;
  const CutCase& c = GetParam();
  auto speech = test::short_speech_sample();
  ASSERT_TRUE(speech) << speech.error().message;
  auto sample = test::container_sample(c.sample, *speech);
  ASSERT_TRUE(sample) << sample.error().message;
  std::ifstream in(sample->path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const std::string& tail : {std::string(4096, '\0'), std::string("\x01\x02\x03")}) {
    fs::path padded = fs::temp_directory_path() /
                      ("soroka-padded-" + std::to_string(::getpid()) + "-" + c.sample);
    std::ofstream(padded, std::ios::binary) << bytes << tail;
    Outcome o = decode_all(padded);
    fs::remove(padded);
    SCOPED_TRACE(c.sample + " + " + std::to_string(tail.size()) + " bytes");
    EXPECT_EQ(o.error, "") << describe(o);
    EXPECT_NEAR(o.seconds, speech->duration_s, kFullTolerance) << describe(o);
  }
}

// An Ogg file cut exactly after a page is a complete Ogg file of fewer pages: nothing in it
// says more was meant to follow (the last page lacks the end-of-stream flag, but so do the
// last pages of live streams). It ends cleanly, with the audio of the pages kept.
TEST(Truncation, OggCutAtAPageBoundaryEndsCleanlyShorter) {
  if (auto why = test::missing_media_tools(); !why.empty()) GTEST_SKIP() << why;
  auto speech = test::short_speech_sample();
  ASSERT_TRUE(speech) << speech.error().message;
  auto sample = test::container_sample("ogg_opus", *speech);
  ASSERT_TRUE(sample) << sample.error().message;
  std::ifstream in(sample->path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t page = bytes.rfind("OggS", bytes.size() / 2);
  ASSERT_NE(page, std::string::npos);
  ASSERT_GT(page, 0u);

  fs::path cut =
      fs::temp_directory_path() / ("soroka-ogg-page-" + std::to_string(::getpid()) + ".ogg");
  std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(page));
  Outcome o = decode_all(cut);
  fs::remove(cut);
  EXPECT_EQ(o.error, "") << describe(o);
  double share = static_cast<double>(page) / static_cast<double>(bytes.size());
  EXPECT_NEAR(o.seconds / speech->duration_s, share, kShareTolerance) << describe(o);
  EXPECT_GT(o.seconds, 0.5);
}

}  // namespace
}  // namespace soroka::media

// AudioDecoder and probe_media on generated media: every container, every kind of bad input,
// FIFOs that stall, and memory that stays flat however long the input.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "media/decoder.h"
#include "support/media_fixtures.h"

namespace soroka::media {
namespace {

namespace fs = std::filesystem;
using test::MediaSample;
using Clock = std::chrono::steady_clock;

// Only to catch hangs: every bad input is refused well within a second here.
constexpr double kMaxSecondsPerBadInput = 10.0;
// Encoder priming and padding (AAC 1024 samples, Opus pre-skip, MP3 frames) stay well below.
constexpr double kDurationTolerance = 0.1;

#define REQUIRE_MEDIA_TOOLS()                                                      \
  do {                                                                             \
    if (auto why = test::missing_media_tools(); !why.empty()) GTEST_SKIP() << why; \
  } while (0)

struct Decoded {
  bool opened = false;
  std::string error;   // from open() or read(), empty when the stream ended cleanly
  FailureKind kind = FailureKind::none;  // the error's
  double seconds = 0;  // position_s() at the end
  std::size_t samples = 0;
  std::size_t largest_read = 0;
  double rms = 0, lead_rms = 0;  // whole signal; its first 0.5 s (a pause in our speech)
  std::uint64_t checksum = 1469598103934665603ull;
  double wall_s = 0;
};

Decoded decode(const fs::path& path, const DecodeLimits& limits = {}, std::size_t chunk = 8000) {
  Decoded d;
  auto t0 = Clock::now();
  auto dec = AudioDecoder::open(path.string(), limits);
  if (!dec) {
    d.error = dec.error().message;
    d.kind = dec.error().kind;
    d.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
    return d;
  }
  d.opened = true;
  std::vector<std::int16_t> buf(chunk);
  double sum = 0, lead = 0;
  for (;;) {
    auto r = dec->read(buf);
    if (!r) {
      d.error = r.error().message;
      d.kind = r.error().kind;
      break;
    }
    if (*r == 0) break;
    d.largest_read = std::max(d.largest_read, *r);
    for (std::size_t i = 0; i < *r; ++i) {
      double v = buf[i];
      sum += v * v;
      if (d.samples + i < kSampleRate / 2) lead += v * v;
      d.checksum = (d.checksum ^ static_cast<std::uint16_t>(buf[i])) * 1099511628211ull;
    }
    d.samples += *r;
  }
  d.seconds = dec->position_s();
  if (d.samples) d.rms = std::sqrt(sum / static_cast<double>(d.samples));
  d.lead_rms = std::sqrt(lead / (kSampleRate / 2.0));
  d.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  return d;
}

// "truncated or corrupt at 7.2 s" -> 7.2
double seconds_in(const std::string& message) {
  auto at = message.find(" at ");
  if (at == std::string::npos) return -1;
  double v = -1;
  std::from_chars(message.data() + at + 4, message.data() + message.size(), v);
  return v;
}

// ---- every container decodes to 16 kHz mono of the right length ---------------------------

class Containers : public ::testing::TestWithParam<std::string> {};

TEST_P(Containers, ProbeDescribesTheFile) {
  REQUIRE_MEDIA_TOOLS();
  auto sample = test::container_sample(GetParam());
  ASSERT_TRUE(sample) << sample.error().message;
  auto info = probe_media(sample->path.string());
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->has_video, sample->has_video);
  EXPECT_NEAR(info->duration_s, sample->duration_s, 0.15);
  EXPECT_GT(info->sample_rate, 0);
  EXPECT_GE(info->channels, 1);
  EXPECT_EQ(info->file_bytes, fs::file_size(sample->path));
  EXPECT_FALSE(info->container.empty());
  EXPECT_FALSE(info->codec.empty());
}

TEST_P(Containers, DecodesTo16kMonoOfTheSourceLength) {
  REQUIRE_MEDIA_TOOLS();
  auto sample = test::container_sample(GetParam());
  ASSERT_TRUE(sample) << sample.error().message;
  Decoded d = decode(sample->path);
  ASSERT_TRUE(d.opened) << d.error;
  EXPECT_EQ(d.error, "");
  EXPECT_NEAR(d.seconds, sample->duration_s, kDurationTolerance);
  EXPECT_EQ(d.samples, static_cast<std::size_t>(std::llround(d.seconds * kSampleRate)));
  EXPECT_LE(d.largest_read, 8000u);
  // Real audio, not zeros: speech is loud, the 0.8 s pause it starts with is (nearly) silent.
  EXPECT_GT(d.rms, 300);
  EXPECT_LT(d.lead_rms, 50);
}

INSTANTIATE_TEST_SUITE_P(Media, Containers, ::testing::ValuesIn(test::container_sample_names()),
                         [](const auto& info) { return info.param; });

// ---- bad input: a specific error, quickly ------------------------------------------------

struct BadCase {
  std::string sample;
  std::string error;      // expected substring
  FailureKind kind = FailureKind::invalid_input;  // what the file is: unsupported_media
  bool at_open = true;    // refused by open() (and probe_media), or by read() after some audio
  double cut_share = -1;  // "at N s": N / source length, when the file is cut in half
  double max_duration_s = 4 * 3600.0;
};

void PrintTo(const BadCase& c, std::ostream* os) {
  *os << c.sample;
}

class BadInput : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadInput, FailsWithItsOwnErrorQuickly) {
  REQUIRE_MEDIA_TOOLS();
  const BadCase& c = GetParam();
  auto path = test::bad_sample(c.sample);
  ASSERT_TRUE(path) << path.error().message;
  auto speech = test::speech_sample();
  ASSERT_TRUE(speech) << speech.error().message;
  DecodeLimits limits;
  limits.max_duration_s = c.max_duration_s;

  Decoded d = decode(*path, limits);
  EXPECT_NE(d.error.find(c.error), std::string::npos) << "got: '" << d.error << "'";
  EXPECT_EQ(d.kind, c.kind) << d.error;
  EXPECT_EQ(d.opened, !c.at_open) << d.error;
  EXPECT_LT(d.wall_s, kMaxSecondsPerBadInput);
  if (c.at_open) {
    auto info = probe_media(path->string(), limits);
    ASSERT_FALSE(info);
    EXPECT_EQ(info.error().message, d.error);
    EXPECT_EQ(info.error().kind, c.kind);
  }
  if (c.cut_share >= 0) {
    // The position named is where the good audio ends, and that audio was delivered.
    double at = seconds_in(d.error);
    EXPECT_NEAR(at / speech->duration_s, c.cut_share, 0.25) << d.error;
    EXPECT_NEAR(d.seconds, at, 0.06);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Media, BadInput,
    ::testing::Values(BadCase{"empty", "empty file"}, BadCase{"text", "not a media file", FailureKind::unsupported_media},
                      BadCase{"random", "not a media file", FailureKind::unsupported_media},
                      // The index (moov) is at the end of this MP4: nothing to play.
                      BadCase{"truncated_mp4", "truncated or corrupt at 0.0 s"},
                      BadCase{"truncated_m4a", "truncated or corrupt at", FailureKind::invalid_input, false, 0.5},
                      BadCase{"truncated_mp3", "truncated or corrupt at", FailureKind::invalid_input, false, 0.5},
                      BadCase{"truncated_ogg", "truncated or corrupt at", FailureKind::invalid_input, false, 0.5},
                      BadCase{"truncated_wav", "truncated or corrupt at", FailureKind::invalid_input, false, 0.5},
                      BadCase{"truncated_flac", "truncated or corrupt at", FailureKind::invalid_input, false, 0.5},
                      BadCase{"truncated_webm", "truncated or corrupt at", FailureKind::invalid_input, false, 0.5},
                      BadCase{"video_only", "no audio stream", FailureKind::unsupported_media},
                      BadCase{"lying_flac_long", "truncated or corrupt at", FailureKind::invalid_input, false, 1.0},
                      BadCase{"lying_flac_huge", "longer than the 4 h limit"},
                      // One hour of silence in 14 KB, its length declared nowhere: the limit
                      // holds on what is decoded.
                      BadCase{"flac_bomb", "longer than the 30 min limit", FailureKind::invalid_input, false, -1, 1800},
                      BadCase{"unknown_codec", "unsupported audio codec", FailureKind::unsupported_media}),
    [](const auto& info) { return info.param.sample; });

TEST(Refusals, MissingFileAndDirectory) {
  auto missing = AudioDecoder::open("/nonexistent/voice.ogg");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "file not found");
  EXPECT_EQ(missing.error().code, ENOENT);
  EXPECT_EQ(missing.error().kind, FailureKind::invalid_input);
  auto dir = probe_media("/tmp");
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().message, "not a media file");
  EXPECT_EQ(dir.error().kind, FailureKind::unsupported_media);
}

TEST(Refusals, TheBombStopsAtTheLimitWithTheAudioBeforeIt) {
  REQUIRE_MEDIA_TOOLS();
  auto path = test::bad_sample("flac_bomb");
  ASSERT_TRUE(path) << path.error().message;
  EXPECT_LT(fs::file_size(*path), 64u << 10);
  DecodeLimits limits;
  limits.max_duration_s = 1800;
  Decoded d = decode(*path, limits);
  EXPECT_EQ(d.error, "longer than the 30 min limit");
  EXPECT_DOUBLE_EQ(d.seconds, 1800.0);
  // Undeclared, so probing cannot know; the decoder finds out.
  EXPECT_TRUE(probe_media(path->string(), limits));
}

// ---- non-seekable input: FIFOs, fed or stalled --------------------------------------------

// A named pipe whose writer (a thread) opens it only once the decoder has opened it for reading:
// the decoder meets a FIFO with no writer yet, as when it is started before the producer.
class Fifo {
 public:
  Fifo() {
    dir_ = fs::temp_directory_path() /
           ("soroka-fifo-" + std::to_string(::getpid()) + "-" + std::to_string(++count_));
    fs::create_directories(dir_);
    path_ = dir_ / "in";
    ok_ = ::mkfifo(path_.c_str(), 0600) == 0;
  }
  ~Fifo() {
    // A writer still blocked in open() (no reader came) is released by a reader of our own.
    int unblock = ::open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    close_writer();
    if (writer_.joinable()) writer_.join();
    if (unblock >= 0) ::close(unblock);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  bool ok() const { return ok_; }
  const fs::path& path() const { return path_; }
  // From a thread: opens the FIFO for writing (blocking until a reader has it open), writes
  // `bytes` (blocking as the reader drains the pipe), then closes if asked.
  void feed(std::string bytes, bool close_after) {
    writer_ = std::thread([this, bytes = std::move(bytes), close_after] {
      int fd = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) return;
      fd_ = fd;
      std::size_t off = 0;
      while (off < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
        if (n <= 0) break;
        off += static_cast<std::size_t>(n);
      }
      if (close_after) close_writer();
    });
  }
  void close_writer() {
    int fd = fd_.exchange(-1);
    if (fd >= 0) ::close(fd);
  }

 private:
  static inline int count_ = 0;
  fs::path dir_, path_;
  bool ok_ = false;
  std::atomic<int> fd_{-1};
  std::thread writer_;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Pipe, AVoiceNoteThroughAPipeDecodesCompletely) {
  REQUIRE_MEDIA_TOOLS();
  auto sample = test::container_sample("ogg_opus");
  ASSERT_TRUE(sample) << sample.error().message;
  Fifo fifo;
  ASSERT_TRUE(fifo.ok()) << "mkfifo: " << std::strerror(errno);
  fifo.feed(slurp(sample->path), true);
  Decoded d = decode(fifo.path());
  EXPECT_EQ(d.error, "");
  EXPECT_NEAR(d.seconds, sample->duration_s, kDurationTolerance);
}

TEST(Pipe, AWriterThatStopsSendingStallsOutWithinTheTimeout) {
  REQUIRE_MEDIA_TOOLS();
  auto sample = test::container_sample("ogg_opus");
  ASSERT_TRUE(sample) << sample.error().message;
  Fifo fifo;
  ASSERT_TRUE(fifo.ok()) << "mkfifo: " << std::strerror(errno);
  fifo.feed(slurp(sample->path).substr(0, 6000), false);  // headers and a second of audio
  DecodeLimits limits;
  limits.stall_timeout = std::chrono::milliseconds(1000);
  Decoded d = decode(fifo.path(), limits);
  EXPECT_EQ(d.error, "reading stalled: no progress for 1 s");
  EXPECT_GT(d.wall_s, 0.9);
  EXPECT_LT(d.wall_s, 5.0);
  fifo.close_writer();
}

// ---- API behaviour --------------------------------------------------------------------------

TEST(Decoder, ReadSizeDoesNotChangeTheSamples) {
  REQUIRE_MEDIA_TOOLS();
  auto sample = test::container_sample("mp3");
  ASSERT_TRUE(sample) << sample.error().message;
  Decoded reference = decode(sample->path, {}, 8000);
  ASSERT_EQ(reference.error, "");
  for (std::size_t chunk : {1u, 7u, 1152u, 1u << 20}) {
    Decoded d = decode(sample->path, {}, chunk);
    EXPECT_EQ(d.samples, reference.samples) << "chunk " << chunk;
    EXPECT_EQ(d.checksum, reference.checksum) << "chunk " << chunk;
    EXPECT_LE(d.largest_read, chunk);
  }
}

TEST(Decoder, EndAndErrorsAreSticky) {
  REQUIRE_MEDIA_TOOLS();
  auto good = test::container_sample("flac");
  auto cut = test::bad_sample("truncated_flac");
  ASSERT_TRUE(good && cut);
  std::vector<std::int16_t> buf(1 << 16);

  auto dec = AudioDecoder::open(good->path.string());
  ASSERT_TRUE(dec) << dec.error().message;
  while (true) {
    auto r = dec->read(buf);
    ASSERT_TRUE(r) << r.error().message;
    if (*r == 0) break;
  }
  for (int i = 0; i < 3; ++i) EXPECT_EQ(dec->read(buf).value_or(99), 0u);

  auto bad = AudioDecoder::open(cut->string());
  ASSERT_TRUE(bad) << bad.error().message;
  std::string first;
  while (true) {
    auto r = bad->read(buf);
    if (!r) {
      first = r.error().message;
      break;
    }
    ASSERT_GT(*r, 0u) << "ended without the truncation error";
  }
  double pos = bad->position_s();
  auto again = bad->read(buf);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().message, first);
  EXPECT_EQ(bad->position_s(), pos);
}

TEST(Decoder, MovesMidStream) {
  REQUIRE_MEDIA_TOOLS();
  auto sample = test::container_sample("webm_vp9_opus");
  ASSERT_TRUE(sample) << sample.error().message;
  auto dec = AudioDecoder::open(sample->path.string());
  ASSERT_TRUE(dec) << dec.error().message;
  std::vector<std::int16_t> buf(kSampleRate);
  ASSERT_EQ(dec->read(buf).value_or(0), buf.size());
  AudioDecoder moved = std::move(*dec);
  EXPECT_DOUBLE_EQ(moved.position_s(), 1.0);
  EXPECT_EQ(moved.info().codec, "opus");
  std::size_t total = buf.size();
  while (auto r = moved.read(buf)) {
    if (*r == 0) break;
    total += *r;
  }
  EXPECT_NEAR(static_cast<double>(total) / kSampleRate, sample->duration_s, kDurationTolerance);
}

// ---- memory does not grow with the length of the input --------------------------------------

struct ChildFigures {
  double growth_mb = -1;  // peak RSS during the decode minus RSS before it
  double cpu_s = 0, wall_s = 0, seconds = 0;
  bool peak_reset = false;  // /proc/self/clear_refs reset the peak first (exact figure)
};

long status_kb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0)
      return std::strtol(line.c_str() + std::strlen(field), nullptr, 10);
  return -1;
}

// Decodes in a forked child, so the peak RSS is this decode's alone.
ChildFigures decode_in_child(const fs::path& path) {
  int fds[2];
  if (::pipe(fds) != 0) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    ChildFigures f;
    {
      std::ofstream clear("/proc/self/clear_refs");
      clear << "5";  // resets VmHWM to the current RSS (Linux >= 4.0)
      clear.flush();
      f.peak_reset = clear.good();
    }
    long before = status_kb("VmRSS:");
    rusage r0{}, r1{};
    ::getrusage(RUSAGE_SELF, &r0);
    Decoded d = decode(path, {}, kSampleRate / 2);
    ::getrusage(RUSAGE_SELF, &r1);
    long peak = status_kb("VmHWM:");
    auto tv = [](const timeval& t) {
      return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
    };
    f.cpu_s = tv(r1.ru_utime) - tv(r0.ru_utime) + tv(r1.ru_stime) - tv(r0.ru_stime);
    f.growth_mb = d.error.empty() ? static_cast<double>(peak - before) / 1024.0 : -1;
    f.wall_s = d.wall_s;
    f.seconds = d.seconds;
    (void)!::write(fds[1], &f, sizeof f);
    ::_exit(0);
  }
  ::close(fds[1]);
  ChildFigures f;
  if (::read(fds[0], &f, sizeof f) != static_cast<ssize_t>(sizeof f)) f = {};
  ::close(fds[0]);
  ::waitpid(pid, nullptr, 0);
  return f;
}

TEST(Memory, PeakRssOf30MinutesEqualsThatOf1Minute) {
  REQUIRE_MEDIA_TOOLS();
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "peak RSS means nothing under a sanitizer: its quarantine keeps freed memory";
#endif
  auto short_note = test::long_voice_note(1);
  auto long_note = test::long_voice_note(30);
  ASSERT_TRUE(short_note) << short_note.error().message;
  ASSERT_TRUE(long_note) << long_note.error().message;
  ChildFigures one = decode_in_child(short_note->path);
  ChildFigures thirty = decode_in_child(long_note->path);
  ASSERT_GE(one.growth_mb, 0) << "the 1 min decode failed";
  ASSERT_GE(thirty.growth_mb, 0) << "the 30 min decode failed";
  EXPECT_NEAR(thirty.seconds, long_note->duration_s, 1.0);  // 30 joined copies, see long_voice_note
  if (!one.peak_reset)
    std::printf("[ note     ] /proc/self/clear_refs not writable: peak includes the parent's\n");
  std::printf(
      "[ figures  ] peak RSS growth: 1 min %.1f MB, 30 min %.1f MB; 30 min decoded in %.1f s wall, "
      "%.1f s CPU (%.0fx realtime by CPU)\n",
      one.growth_mb, thirty.growth_mb, thirty.wall_s, thirty.cpu_s,
      1800 / std::max(thirty.cpu_s, 1e-3));
  // Constant memory: 30x the input costs less than 2 MB more at the peak (allocator noise).
  EXPECT_LT(thirty.growth_mb - one.growth_mb, 2.0);
  EXPECT_LT(thirty.growth_mb, 16.0);
}

}  // namespace
}  // namespace soroka::media

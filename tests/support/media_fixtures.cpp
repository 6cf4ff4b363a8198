// Test media made on demand with flite, sox and ffmpeg (never committed), cached by recipe.
#include "support/media_fixtures.h"

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <span>
#include <sstream>

#include "support/run.h"

namespace soroka::test {

namespace fs = std::filesystem;

namespace {

// Bump to regenerate every cached sample (e.g. after changing how samples are post-processed).
constexpr std::string_view kRecipeVersion = "media-fixtures-1";
// A generous bound per tool run: the slowest, 30 min of Opus, takes ~10 s of CPU.
constexpr std::chrono::seconds kToolTimeout{300};
// Video in the samples is small: it only has to exist, demuxing must skip past it.
constexpr std::string_view kVideoSize = "160x120";

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string find_on_path(std::string_view tool) {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/bin:/bin";
  while (!dirs.empty()) {
    auto colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    dirs = colon == std::string_view::npos ? std::string_view{} : dirs.substr(colon + 1);
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + std::string(tool);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

std::mutex g_mu;
std::map<std::string, fs::path, std::less<>> g_made;  // recipe key -> file, this process

// Returns the cached file for `recipe`, building it with `build(tmp_path)` when missing.
Result<fs::path> cached(std::string_view name, std::string_view ext, const std::string& recipe,
                        const std::function<Result<void>(const fs::path&)>& build) {
  std::string key = std::string(kRecipeVersion) + "|" + std::string(name) + "|" + recipe;
  std::lock_guard lock(g_mu);
  if (auto it = g_made.find(key); it != g_made.end()) return it->second;
  std::error_code ec;
  fs::create_directories(media_cache_dir(), ec);
  if (ec) return fail("cannot create " + media_cache_dir().string() + ": " + ec.message());
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(fnv1a(key)));
  fs::path final_path =
      media_cache_dir() / (std::string(name) + "-" + std::string(hash, 8) + std::string(ext));
  if (!fs::exists(final_path)) {
    fs::path tmp = media_cache_dir() /
                   (".tmp-" + std::to_string(::getpid()) + "-" + final_path.filename().string());
    auto r = build(tmp);
    if (!r) {
      fs::remove(tmp, ec);
      return std::unexpected(std::move(r.error()).with_context("making " + std::string(name)));
    }
    fs::rename(tmp, final_path, ec);
    if (ec) return fail("cannot rename " + tmp.string() + ": " + ec.message());
  }
  g_made.emplace(std::move(key), final_path);
  return final_path;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& a : v) s += a + ' ';
  return s;
}

// ffmpeg with `args` and the output path last; quiet, single-threaded (libvpx's VP8 encoder
// is 10x slower with threads on tiny frames), never reading stdin.
Result<fs::path> ffmpeg_make(std::string_view name, std::string_view ext,
                             const std::vector<std::string>& args) {
  return cached(name, ext, "ffmpeg " + join(args), [&](const fs::path& out) {
    std::vector<std::string> argv = {"ffmpeg",    "-y",    "-hide_banner",
                                     "-loglevel", "error", "-nostdin"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"-threads", "1", out.string()});  // output options
    return run_tool(argv);
  });
}

Result<std::string> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return fail("cannot read " + p.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Result<void> write_file(const fs::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) return fail("cannot write " + p.string());
  return {};
}

// A derived file: `edit` gets the source's bytes and returns the new file's.
Result<fs::path> derive(std::string_view name, std::string_view ext, const Result<fs::path>& src,
                        std::string_view how,
                        const std::function<Result<std::string>(std::string)>& edit) {
  if (!src) return std::unexpected(src.error());
  return cached(name, ext, std::string(how) + " of " + src->string(),
                [&](const fs::path& out) -> Result<void> {
                  auto bytes = read_file(*src);
                  if (!bytes) return std::unexpected(bytes.error());
                  auto edited = edit(std::move(*bytes));
                  if (!edited) return std::unexpected(edited.error());
                  return write_file(out, *edited);
                });
}

Result<fs::path> first_half(std::string_view name, std::string_view ext,
                            const Result<fs::path>& src) {
  return derive(name, ext, src, "first half", [](std::string b) -> Result<std::string> {
    b.resize(b.size() / 2);
    return b;
  });
}

// FLAC STREAMINFO: "fLaC", a 4-byte block header, then at byte 18 a big-endian 64-bit word of
// sample rate (20 bits), channels (3), bits per sample (5) and total samples (36).
Result<std::string> set_flac_total_samples(std::string b, double seconds) {
  if (b.size() < 26 || b.compare(0, 4, "fLaC") != 0) return fail("not a FLAC file");
  std::uint64_t word = 0;
  for (int i = 0; i < 8; ++i)
    word = word << 8 | static_cast<unsigned char>(b[18 + static_cast<std::size_t>(i)]);
  std::uint64_t rate = word >> 44;
  auto total = static_cast<std::uint64_t>(seconds * static_cast<double>(rate));
  word = (word & ~((std::uint64_t{1} << 36) - 1)) | (total & ((std::uint64_t{1} << 36) - 1));
  for (int i = 7; i >= 0; --i, word >>= 8)
    b[18 + static_cast<std::size_t>(i)] = static_cast<char>(word & 0xff);
  return b;
}

Result<double> sox_duration(const fs::path& p) {
  auto r = run({find_on_path("soxi"), "-D", p.string()}, {}, kToolTimeout);
  double d = 0;
  auto [ptr, ec] = std::from_chars(r.out.data(), r.out.data() + r.out.size(), d);
  if (r.exit_code != 0 || ec != std::errc{})
    return fail("soxi -D " + p.string() + " failed: " + r.err);
  return d;
}

std::string seconds_arg(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", s);
  return buf;
}

// The speech sample's audio with a small test-pattern video of the same length.
Result<fs::path> with_video(std::string_view name, std::string_view ext, const MediaSample& speech,
                            std::string_view source, std::vector<std::string> codecs) {
  std::vector<std::string> args = {
      "-f", "lavfi",
      "-i", std::string(source) + ":rate=15:duration=" + seconds_arg(speech.duration_s),
      "-i", speech.path.string()};
  args.insert(args.end(), codecs.begin(), codecs.end());
  return ffmpeg_make(name, ext, args);
}

// ffmpeg writing to a pipe: the muxer cannot go back to fill in lengths, so none are declared.
Result<fs::path> piped(std::string_view name, std::string_view ext, const std::string& in,
                       const std::vector<std::string>& codec) {
  return cached(name, ext, "ffmpeg pipe " + in + " " + join(codec), [&](const fs::path& out) {
    std::vector<std::string> argv = {"ffmpeg",   "-hide_banner", "-loglevel", "error",
                                     "-nostdin", "-i",           in};
    argv.insert(argv.end(), codec.begin(), codec.end());
    argv.push_back("pipe:1");
    return run_tool(argv, out);
  });
}

}  // namespace

std::string missing_media_tools() {
  std::string missing;
  for (std::string_view tool : {"flite", "sox", "soxi", "ffmpeg"})
    if (find_on_path(tool).empty()) missing += (missing.empty() ? "" : ", ") + std::string(tool);
  return missing.empty() ? missing : "not installed: " + missing + " (scripts/install-deps.sh)";
}

fs::path media_cache_dir() {
  if (const char* dir = std::getenv("SOROKA_MEDIA_CACHE"); dir && *dir) return dir;
  return fs::path(SOROKA_BUILD_DIR) / "test-media";
}

Result<void> run_tool(const std::vector<std::string>& argv, const fs::path& stdout_to) {
  std::vector<std::string> resolved = argv;
  resolved[0] = find_on_path(argv[0]);
  if (resolved[0].empty()) return fail(argv[0] + " is not installed");
  RunResult r = run(resolved, {}, kToolTimeout);
  if (r.exit_code != 0)
    return fail(join(argv) + "exited with " + std::to_string(r.exit_code) + ": " +
                r.err.substr(0, 2000));
  if (!stdout_to.empty()) return write_file(stdout_to, r.out);
  return {};
}

namespace {

struct Line {
  std::string_view voice, text;
};

constexpr Line kLines[] = {
    {"slt", "Hello, this is Soroka, a speech transcription service."},
    {"awb", "Voice notes of any length are decoded in small pieces."},
    {"rms", "Memory stays flat, and the out of memory killer stays away."},
};

// The given flite lines with 0.8 s pauses around them, one 16 kHz mono WAV named `name`.
Result<MediaSample> spoken(std::string_view name, std::span<const Line> lines) {
  auto pause = cached("pause", ".wav", "sox 0.8 s of 16 kHz silence", [](const fs::path& out) {
    return run_tool(
        {"sox", "-n", "-r", "16000", "-c", "1", "-b", "16", out.string(), "trim", "0", "0.8"});
  });
  if (!pause) return std::unexpected(pause.error());
  std::vector<std::string> concat = {"sox", pause->string()};
  for (const auto& line : lines) {
    auto part = cached(std::string("flite-") + std::string(line.voice), ".wav",
                       std::string(line.text), [&](const fs::path& out) {
                         return run_tool({"flite", "-voice", std::string(line.voice), "-t",
                                          std::string(line.text), "-o", out.string()});
                       });
    if (!part) return std::unexpected(part.error());
    concat.push_back(part->string());
    concat.push_back(pause->string());
  }
  auto speech = cached(name, ".wav", join(concat), [&](const fs::path& out) {
    auto argv = concat;
    argv.push_back(out.string());
    return run_tool(argv);
  });
  if (!speech) return std::unexpected(speech.error());
  auto d = sox_duration(*speech);
  if (!d) return std::unexpected(d.error());
  return MediaSample{*speech, *d, false};
}

}  // namespace

Result<MediaSample> speech_sample() {
  return spoken("speech", kLines);
}

Result<MediaSample> short_speech_sample() {
  return spoken("speech-short", std::span(kLines).first(1));
}

const std::vector<std::string>& container_sample_names() {
  static const std::vector<std::string> names = {
      "ogg_opus",        "mp3",           "m4a", "wav",       "flac", "mp4", "mkv",
      "webm_vp8_vorbis", "webm_vp9_opus", "mov", "video_note"};
  return names;
}

Result<MediaSample> container_sample(std::string_view name) {
  auto speech = speech_sample();
  if (!speech) return std::unexpected(speech.error());
  return container_sample(name, *speech);
}

Result<MediaSample> container_sample(std::string_view name, const MediaSample& source) {
  const MediaSample* speech = &source;
  const std::string in = speech->path.string();
  const std::string testsrc = "testsrc=size=" + std::string(kVideoSize);
  const std::vector<std::string> h264 = {"-c:v",      "libx264",  "-preset",
                                         "ultrafast", "-pix_fmt", "yuv420p"};
  auto plus = [](std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  Result<fs::path> p = fail("unknown container sample '" + std::string(name) + "'");
  bool video = true;
  if (name == "ogg_opus") {
    // What Telegram sends: 48 kHz mono Opus in Ogg.
    p = ffmpeg_make(name, ".ogg", {"-i", in, "-ac", "1", "-c:a", "libopus", "-b:a", "24k"}),
    video = false;
  } else if (name == "mp3") {
    p = ffmpeg_make(name, ".mp3", {"-i", in, "-ar", "44100", "-c:a", "libmp3lame", "-b:a", "64k"}),
    video = false;
  } else if (name == "m4a") {
    p = ffmpeg_make(name, ".m4a", {"-i", in, "-ar", "48000", "-c:a", "aac", "-b:a", "64k"}),
    video = false;
  } else if (name == "wav") {
    p = ffmpeg_make(name, ".wav", {"-i", in, "-ar", "44100", "-ac", "2", "-c:a", "pcm_s16le"}),
    video = false;
  } else if (name == "flac") {
    p = ffmpeg_make(name, ".flac", {"-i", in, "-ar", "48000", "-c:a", "flac"}), video = false;
  } else if (name == "mp4") {
    p = with_video(name, ".mp4", *speech, testsrc, plus(h264, {"-c:a", "aac", "-ar", "44100"}));
  } else if (name == "mkv") {
    p = with_video(name, ".mkv", *speech, testsrc, plus(h264, {"-c:a", "aac", "-ar", "48000"}));
  } else if (name == "webm_vp8_vorbis") {
    p = with_video(name, ".webm", *speech, testsrc,
                   {"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-c:a",
                    "libvorbis", "-ar", "44100"});
  } else if (name == "webm_vp9_opus") {
    p = with_video(
        name, ".webm", *speech, testsrc,
        {"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libopus"});
  } else if (name == "mov") {
    p = with_video(name, ".mov", *speech, testsrc, plus(h264, {"-c:a", "aac", "-ar", "48000"}));
  } else if (name == "mp3_no_xing") {
    p = ffmpeg_make(
        name, ".mp3",
        {"-i", in, "-ar", "44100", "-c:a", "libmp3lame", "-b:a", "64k", "-write_xing", "0"}),
    video = false;
  } else if (name == "aac_adts") {
    p = ffmpeg_make(name, ".aac", {"-i", in, "-ar", "48000", "-c:a", "aac", "-b:a", "64k"}),
    video = false;
  } else if (name == "wav_streamed") {
    p = piped(name, ".wav", in, {"-ar", "44100", "-ac", "2", "-c:a", "pcm_s16le", "-f", "wav"}),
    video = false;
  } else if (name == "flac_streamed") {
    p = piped(name, ".flac", in, {"-ar", "48000", "-c:a", "flac", "-f", "flac"}), video = false;
  } else if (name == "video_note") {
    p = with_video(
        name, ".mp4", *speech, "color=c=0x2a6fdb:size=384x384",
        plus(h264, {"-c:a", "aac", "-ac", "1", "-ar", "48000", "-movflags", "+faststart"}));
  }
  if (!p) return std::unexpected(p.error());
  return MediaSample{*p, speech->duration_s, video};
}

const std::vector<std::string>& bad_sample_names() {
  static const std::vector<std::string> names = {
      "empty",           "text",           "random",        "truncated_mp4",
      "truncated_m4a",   "truncated_mp3",  "truncated_ogg", "truncated_wav",
      "truncated_flac",  "truncated_webm", "video_only",    "lying_flac_long",
      "lying_flac_huge", "flac_bomb",      "unknown_codec"};
  return names;
}

Result<fs::path> bad_sample(std::string_view name) {
  auto from_container = [](std::string_view c) -> Result<fs::path> {
    auto s = container_sample(c);
    if (!s) return std::unexpected(s.error());
    return s->path;
  };
  if (name == "empty")
    return cached(name, ".ogg", "nothing", [](const fs::path& out) { return write_file(out, ""); });
  if (name == "text")
    return cached(name, ".txt", "text", [](const fs::path& out) {
      std::string text;
      while (text.size() < 8000)
        text += "This is a plain text file, not a voice note. Nothing to hear here.\n";
      return write_file(out, text);
    });
  if (name == "random")
    return cached(name, ".bin", "mt19937 seed 42, 256 KiB", [](const fs::path& out) {
      std::mt19937 rng(42);
      std::string bytes(256 << 10, '\0');
      for (auto& c : bytes) c = static_cast<char>(rng() & 0xff);
      return write_file(out, bytes);
    });
  if (name == "truncated_mp4") return first_half(name, ".mp4", from_container("mp4"));
  if (name == "truncated_m4a") {
    auto speech = speech_sample();
    if (!speech) return std::unexpected(speech.error());
    return first_half(name, ".m4a",
                      ffmpeg_make("m4a_faststart", ".m4a",
                                  {"-i", speech->path.string(), "-ar", "48000", "-c:a", "aac",
                                   "-movflags", "+faststart"}));
  }
  if (name == "truncated_mp3") return first_half(name, ".mp3", from_container("mp3"));
  if (name == "truncated_ogg") return first_half(name, ".ogg", from_container("ogg_opus"));
  if (name == "truncated_wav") return first_half(name, ".wav", from_container("wav"));
  if (name == "truncated_flac") return first_half(name, ".flac", from_container("flac"));
  if (name == "truncated_webm") return first_half(name, ".webm", from_container("webm_vp9_opus"));
  if (name == "video_only")
    return ffmpeg_make(name, ".mp4",
                       {"-f", "lavfi", "-i", "testsrc=size=160x120:rate=15:duration=3", "-c:v",
                        "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"});
  if (name == "lying_flac_long")
    return derive(name, ".flac", from_container("flac"), "STREAMINFO 60 s",
                  [](std::string b) { return set_flac_total_samples(std::move(b), 60); });
  if (name == "lying_flac_huge")
    return derive(name, ".flac", from_container("flac"), "STREAMINFO 100 h",
                  [](std::string b) { return set_flac_total_samples(std::move(b), 100 * 3600.0); });
  if (name == "flac_bomb")
    // Written to a pipe, the FLAC muxer cannot go back to fill in the total: length unknown.
    // Constant 65535-sample blocks of silence cost a few bytes each.
    return cached(
        name, ".flac", "anullsrc 8 kHz 3600 s flac frame 65535 via pipe", [](const fs::path& out) {
          return run_tool({"ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-f",
                           "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "3600", "-c:a", "flac",
                           "-frame_size", "65535", "-f", "flac", "pipe:1"},
                          out);
        });
  if (name == "unknown_codec")
    return derive(name, ".wav", from_container("wav"), "format tag 0x3fff",
                  [](std::string b) -> Result<std::string> {
                    auto fmt = b.find("fmt ");
                    if (fmt == std::string::npos || fmt + 10 > b.size())
                      return fail("no fmt chunk");
                    b[fmt + 8] = '\xff';
                    b[fmt + 9] = '\x3f';
                    return b;
                  });
  return fail("unknown bad sample '" + std::string(name) + "'");
}

Result<fs::path> truncated_copy(const fs::path& src, double share) {
  char how[48];
  std::snprintf(how, sizeof how, "first %.4f", share);
  return derive(src.stem().string() + "-cut" + std::to_string(std::lround(share * 100)),
                src.extension().string(), src, how, [share](std::string b) -> Result<std::string> {
                  b.resize(static_cast<std::size_t>(static_cast<double>(b.size()) * share));
                  return b;
                });
}

Result<MediaSample> long_voice_note(int minutes) {
  auto speech = speech_sample();
  if (!speech) return std::unexpected(speech.error());
  // One minute is encoded (lowest encoder complexity); longer notes are that minute copied
  // end to end by the concat demuxer, which costs seconds instead of a minute of encoding.
  auto one = ffmpeg_make("voice-1min", ".ogg",
                         {"-stream_loop", "-1", "-i", speech->path.string(), "-t", "60", "-ac", "1",
                          "-c:a", "libopus", "-b:a", "16k", "-compression_level", "0"});
  if (!one || minutes == 1) {
    if (!one) return std::unexpected(one.error());
    return MediaSample{*one, 60.0, false};
  }
  std::string list;
  for (int i = 0; i < minutes; ++i) list += "file '" + one->string() + "'\n";
  auto list_file = cached("voice-concat-" + std::to_string(minutes), ".txt", list,
                          [&](const fs::path& out) { return write_file(out, list); });
  if (!list_file) return std::unexpected(list_file.error());
  auto p = ffmpeg_make("voice-" + std::to_string(minutes) + "min", ".ogg",
                       {"-f", "concat", "-safe", "0", "-i", list_file->string(), "-c", "copy"});
  if (!p) return std::unexpected(p.error());
  // Opus pre-skip and end trimming are not applied at the joins: about +0.02 s a copy.
  return MediaSample{*p, minutes * 60.0, false};
}

}  // namespace soroka::test

// Remote engines' pure parts: settings tables, request forms and answers, chunk time maps and
// stitching (no word lost or doubled), splitting, the balancer and the retry decision table.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "config/settings.h"
#include "engine/factory.h"
#include "engine/remote/balancer.h"
#include "engine/remote/chunk.h"
#include "engine/remote/remote_engine.h"
#include "engine/remote/retry.h"
#include "engine/remote/wire.h"
#include "media/decoder.h"
#include "media/encoder.h"

namespace soroka::engine::remote {
namespace {

using namespace std::chrono_literals;
constexpr int kRate = 16000;

Result<Settings> from_toml(const std::string& text) {
  Settings s;
  auto r = apply_toml(s, text, "test.toml");
  if (!r) return std::unexpected(r.error());
  return s;
}

TEST(RemoteSettings, ReadsEveryKey) {
  auto s = from_toml(R"(
[engines.whisper]
type = "whisper.cpp"
urls = ["http://gpu1:8080", "https://gpu2:8080/"]
api_key = "sk-test-0123456789"
model = "large-v3"
languages = ["en", "ru"]
max_concurrency = 4
timeout_ms = 60000
max_request_bytes = "24MiB"
chunk_seconds = 300
max_tries = 3
unreachable_wait_ms = 5000
fallback = "pocketsphinx"
audio_format = "flac"
[engines.groq]
url = "https://api.groq.com/openai/v1"
api_key_file = "/run/credentials/groq"
)");
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_EQ(s->engine.remote.size(), 2u);
  const auto& w = *find_remote(s->engine.remote, "whisper");
  EXPECT_EQ(w.name, "whisper");
  EXPECT_EQ(w.type, RemoteProtocol::whisper_cpp);
  EXPECT_EQ(w.urls.size(), 2u);
  EXPECT_EQ(w.languages, (std::vector<std::string>{"en", "ru"}));
  EXPECT_EQ(w.max_concurrency, 4u);
  EXPECT_EQ(w.timeout, 60000ms);
  EXPECT_EQ(w.max_request_bytes, 24u << 20);
  EXPECT_EQ(w.chunk_seconds, 300);
  EXPECT_EQ(w.max_tries, 3u);
  EXPECT_EQ(w.unreachable_wait, 5000ms);
  EXPECT_EQ(w.fallback, "pocketsphinx");
  EXPECT_FALSE(uploads_wav(w));  // asked for FLAC
  const auto& g0 = *find_remote(s->engine.remote, "groq");
  EXPECT_FALSE(uploads_wav(g0));  // openai: FLAC by default
  const auto& g = *find_remote(s->engine.remote, "groq");
  EXPECT_EQ(g.type, RemoteProtocol::openai);
  EXPECT_EQ(g.api_key_file, "/run/credentials/groq");
  // The names are models now: described, listed, remote.
  auto info = describe_model(s->engine, "whisper");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->name, "whisper");
  EXPECT_EQ(info->languages, (std::vector<std::string>{"en", "ru"}));
  // Its fallback (pocketsphinx) may load in the worker: worker.memory_per_job sizes it.
  EXPECT_EQ(info->worker_bytes, 0u);
  constexpr std::uint64_t kMiB = 1 << 20;
  EXPECT_EQ(worker_base_bytes(s->engine, "whisper", 512 * kMiB), 512 * kMiB);
  // Without one a worker is the process and its request buffers: 2 chunks in flight of 120 s,
  // each PCM, FLAC, answer cap and curl (3.84 + 3.84 + 4 MiB + 0.25 MiB), one being built and
  // the encoder: well under the 512 MiB a pocketsphinx worker gets.
  const auto& groq = *find_remote(s->engine.remote, "groq");
  ASSERT_TRUE(groq.fallback.empty());
  const std::uint64_t groq_bytes = worker_base_bytes(s->engine, "groq", 512 * kMiB);
  EXPECT_EQ(groq_bytes, kWorkerProcessBytes + session_bytes(groq));
  EXPECT_LT(groq_bytes, 128 * kMiB);
  EXPECT_EQ(find_remote(s->engine.remote, "pocketsphinx"), nullptr);
  auto names = model_names(s->engine);
  EXPECT_NE(std::find(names.begin(), names.end(), "groq"), names.end());
}

TEST(RemoteSettings, RefusesWithTheKeyNamed) {
  struct Case {
    const char* toml;
    const char* says;
  } cases[] = {
      {"[engines.w]\ntype = \"openai\"\n", "set url"},
      {"[engines.w]\nurl = \"ftp://x\"\n", "not an http"},
      {"[engines.w]\nurl = \"http://x\"\ntype = \"grpc\"\n", "engines.w.type"},
      {"[engines.w]\nurl = \"http://x\"\nbogus = 1\n", "unknown key engines.w.bogus"},
      {"[engines.w]\nurl = \"http://x\"\nmax_concurrency = 0\n", "engines.w.max_concurrency"},
      {"[engines.w]\nurl = \"http://x\"\nmax_concurrency = 65\n", "at most 64"},
      {"[engines.w]\nurl = \"http://x\"\nchunk_seconds = 10\n", "chunk_seconds"},
      {"[engines.w]\nurl = \"http://x\"\nmax_request_bytes = 1000\n", "max_request_bytes"},
      {"[engines.w]\nurl = \"http://x\"\napi_key = \"a\"\napi_key_file = \"/f\"\n", "not both"},
      {"[engines.w]\nurl = \"http://x\"\nfallback = \"w\"\n", "itself"},
      {"[engines.w]\nurl = \"http://x\"\nfallback = \"nope\"\n", "not a model"},
      {"[engines.w]\nurl = \"http://x\"\nlanguages = []\n", "languages"},
      {"[engines.pocketsphinx]\nurl = \"http://x\"\n", "built-in"},
      {"[engines.sim-x]\nurl = \"http://x\"\n", "built-in"},
      {"[engines.\"a b\"]\nurl = \"http://x\"\n", "invalid engine name"},
      {"[engines]\nw = 1\n", "must be a table"},
      {"[engines.w]\nurl = \"http://x\"\naudio_format = \"mp3\"\n", "engines.w.audio_format"},
  };
  for (const auto& c : cases) {
    auto s = from_toml(c.toml);
    ASSERT_FALSE(s) << c.toml;
    EXPECT_NE(s.error().message.find(c.says), std::string::npos) << c.toml << " -> " << s.error().message;
    EXPECT_NE(s.error().message.find("test.toml"), std::string::npos) << s.error().message;
  }
}

TEST(RemoteSettings, ApiKeyFileFirstLine) {
  auto dir = std::filesystem::temp_directory_path() / "soroka-remote-key";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "key") << "  sk-from-file-123  \nsecond line\n";
  RemoteEngineSettings e;
  e.name = "w";
  e.api_key_file = (dir / "key").string();
  auto k = resolve_api_key(e);
  ASSERT_TRUE(k);
  EXPECT_EQ(*k, "sk-from-file-123");
  e.api_key_file = (dir / "missing").string();
  EXPECT_FALSE(resolve_api_key(e));
  std::filesystem::remove_all(dir);
}

TEST(RemoteWire, FormsOfBothProtocols) {
  RemoteEngineSettings e;
  e.urls = {"http://h:1/v1/"};
  const std::string flac = "fLaC...";
  auto has = [](const std::vector<net::FormPart>& f, std::string_view k, std::string_view v) {
    return std::any_of(f.begin(), f.end(), [&](const auto& p) { return p.name == k && p.data == v; });
  };
  auto f = request_form(e, flac, "en", "the previous words");
  EXPECT_TRUE(has(f, "model", "whisper-1"));
  EXPECT_TRUE(has(f, "response_format", "verbose_json"));
  EXPECT_TRUE(has(f, "timestamp_granularities[]", "word"));
  EXPECT_TRUE(has(f, "timestamp_granularities[]", "segment"));
  EXPECT_TRUE(has(f, "prompt", "the previous words"));
  EXPECT_TRUE(has(f, "language", "en"));
  EXPECT_EQ(f[0].name, "file");
  EXPECT_EQ(f[0].file_name, "chunk.flac");
  EXPECT_EQ(endpoint(e.type, e.urls[0]), "http://h:1/v1/audio/transcriptions");
  e.type = RemoteProtocol::whisper_cpp;
  auto w = request_form(e, flac, "ru", "");
  EXPECT_FALSE(has(w, "model", "whisper-1"));
  EXPECT_FALSE(std::any_of(w.begin(), w.end(), [](const auto& p) { return p.name == "prompt"; }));
  EXPECT_EQ(endpoint(e.type, "http://h:8080"), "http://h:8080/inference");
  EXPECT_EQ(request_headers("sk-1").back(), "Authorization: Bearer sk-1");
  EXPECT_EQ(request_headers("").size(), 1u);
}

TEST(RemoteWire, ParsesAnswers) {
  auto v = parse_answer(R"({"text":"a b","segments":[{"start":0.5,"end":1.5,"text":" a b",
      "words":[{"word":" a","start":0.5,"end":0.9},{"word":"b","start":1.0,"end":1.5}]}]})");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->segments.size(), 1u);
  EXPECT_EQ(v->words.size(), 2u);
  // OpenAI: words at the top level; whisper.cpp's offsets in ms.
  auto o = parse_answer(R"({"text":"x","words":[{"word":"x","start":1,"end":2}]})");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->words.size(), 1u);
  auto w = parse_answer(R"({"text":"y","segments":[{"text":"y","offsets":{"from":1500,"to":2500}}]})");
  ASSERT_TRUE(w);
  ASSERT_EQ(w->segments.size(), 1u);
  EXPECT_DOUBLE_EQ(w->segments[0].start_s, 1.5);
  // Hostile numbers are dropped with their word, not trusted.
  auto h = parse_answer(R"({"text":"z","words":[{"word":"z","start":-1,"end":2},{"word":"q","start":"1","end":2}]})");
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->words.empty());
  for (const char* bad : {"", "<html>", "[]", R"({"text":5})", R"({"segments":[]})"}) EXPECT_FALSE(parse_answer(bad)) << bad;
  EXPECT_EQ(server_message(R"({"error":{"message":"Invalid file format."}})"), "Invalid file format.");
  EXPECT_EQ(server_message(R"({"detail":"bad model"})"), "bad model");
  EXPECT_LE(server_message(std::string(5000, 'x')).size(), 310u);
}

TEST(RemoteWire, PromptTailKeepsTheLastWords) {
  EXPECT_EQ(prompt_tail("one two three four", 2), "three four");
  EXPECT_EQ(prompt_tail("  ", 5), "");
  std::string many;
  for (int i = 0; i < 500; ++i) many += "word" + std::to_string(i) + " ";
  auto t = prompt_tail(many, 1000);
  EXPECT_LE(t.size(), 224u);
  EXPECT_TRUE(t.ends_with("word499"));
}

// Three pieces at 10 s, 30 s and 50 s of the input, 2 s each, joined into a 6 s chunk.
std::vector<Piece> three_pieces() {
  return {{10 * kRate, 0, 2 * kRate}, {30 * kRate, 2 * kRate, 2 * kRate}, {50 * kRate, 4 * kRate, 2 * kRate}};
}

TEST(RemoteChunk, TimeMapAndStitchingKeepEveryWordOnce) {
  auto pieces = three_pieces();
  EXPECT_DOUBLE_EQ(to_input_time(pieces, 0.5, kRate), 10.5);
  EXPECT_DOUBLE_EQ(to_input_time(pieces, 2.5, kRate), 30.5);
  EXPECT_DOUBLE_EQ(to_input_time(pieces, 99, kRate), 52.0);  // past the end: clamped
  ChunkAnswer a;
  a.text = "w0 w1 w2 w3 w4 w5";
  // A word straddling the border between pieces 0 and 1 goes by its middle (1.9-2.3 -> 2.1).
  a.words = {{0.1, 0.5, "w0"}, {1.0, 1.5, "w1"}, {1.9, 2.3, "w2"}, {2.5, 3.0, "w3"}, {4.2, 4.6, "w4"}, {5.0, 5.9, "w5"}};
  auto out = stitch(pieces, a, kRate);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].text, "w0 w1");
  EXPECT_EQ(out[1].text, "w2 w3");
  EXPECT_EQ(out[2].text, "w4 w5");
  EXPECT_DOUBLE_EQ(out[1].start_s, 30.0);
  EXPECT_DOUBLE_EQ(out[1].words[0].start_s, 30.0);  // clamped into its piece
  EXPECT_NEAR(out[2].words[1].end_s, 51.9, 1e-9);
  // Segments give the text (punctuation kept), words only timings.
  a.segments = {{0, 1.6, "W0, w1."}, {1.8, 3.2, "W2 w3!"}, {4, 6, "W4 w5?"}};
  out = stitch(pieces, a, kRate);
  EXPECT_EQ(out[0].text, "W0, w1.");
  EXPECT_EQ(out[2].text, "W4 w5?");
  EXPECT_EQ(out[2].words.size(), 2u);
}

TEST(RemoteChunk, TextOnlyIsSharedOutByDuration) {
  std::vector<Piece> pieces = {{0, 0, 1 * kRate}, {5 * kRate, kRate, 3 * kRate}};
  ChunkAnswer a;
  a.text = "a b c d e f g h";
  auto out = stitch(pieces, a, kRate);
  EXPECT_EQ(out[0].text, "a b");
  EXPECT_EQ(out[1].text, "c d e f g h");
  a.text = "";
  out = stitch(pieces, a, kRate);
  EXPECT_TRUE(out[0].text.empty() && out[1].text.empty());
}

TEST(RemoteChunk, FullAndSplit) {
  EXPECT_FALSE(chunk_full(0, 500, 120));  // an empty chunk takes anything
  EXPECT_FALSE(chunk_full(100, 20, 120));
  EXPECT_TRUE(chunk_full(100, 20.5, 120));
  Chunk c;
  for (int i = 0; i < 4; ++i) {
    segment::Segment s;
    s.start_sample = i * 10 * kRate;
    s.samples.assign(static_cast<std::size_t>((i + 1) * kRate), static_cast<std::int16_t>(i));
    c.add(std::move(s));
  }
  EXPECT_EQ(c.pcm.size(), 10u * kRate);
  auto halves = split(std::move(c));
  ASSERT_TRUE(halves);
  // The piece border nearest the middle (5 s): after pieces 0-2 (6 s) or 0-1 (3 s) -> 6 s.
  EXPECT_EQ(halves->first.pieces.size(), 3u);
  EXPECT_EQ(halves->second.pieces.size(), 1u);
  EXPECT_EQ(halves->second.pieces[0].offset, 0u);
  EXPECT_EQ(halves->second.pcm.front(), 3);
  auto audio = pieces_audio(halves->first);
  ASSERT_EQ(audio.size(), 3u);
  EXPECT_EQ(audio[2].start_sample, 20 * kRate);
  EXPECT_EQ(audio[2].samples.size(), 3u * kRate);
  Chunk one;
  one.pieces = {{0, 0, 5}};
  one.pcm.resize(5);
  EXPECT_FALSE(split(std::move(one)));
}

TEST(RemoteBalancer, LeastOutstandingAndCooldown) {
  Balancer b({"u0", "u1", "u2"}, 5s);
  const auto t0 = Balancer::Clock::now();
  EXPECT_EQ(b.pick(t0), 0u);
  EXPECT_EQ(b.pick(t0), 1u);
  EXPECT_EQ(b.pick(t0), 2u);
  EXPECT_EQ(b.pick(t0), 0u);  // all at 1: the lowest index
  b.done(1, true, t0);
  EXPECT_EQ(b.pick(t0), 1u);  // now the least loaded
  b.done(2, false, t0);       // refused: set aside
  b.done(2, true, t0);
  b.done(1, true, t0);
  b.done(1, true, t0);
  b.done(0, true, t0);
  b.done(0, true, t0);
  b.done(2, false, t0);
  EXPECT_EQ(b.outstanding(2), 0u);
  EXPECT_EQ(b.pick(t0 + 1s), 0u);  // all idle; u2 down for 5 s
  EXPECT_EQ(b.pick(t0 + 2s), 1u);  // u2 would be least loaded, but it is still down
  EXPECT_EQ(b.pick(t0 + 6s), 2u);  // back after its cooldown, least loaded
  Balancer all_down({"a", "b"}, 5s);
  all_down.done(all_down.pick(t0), false, t0);
  all_down.done(all_down.pick(t0 + 1s), false, t0 + 1s);
  EXPECT_FALSE(all_down.any_healthy(t0 + 2s));
  EXPECT_EQ(all_down.pick(t0 + 2s), 0u);  // none healthy: the one back soonest still gets it
}

TEST(RemoteRetry, DecisionTable) {
  RemoteEngineSettings e;
  e.max_tries = 3;
  e.unreachable_wait = 60s;
  auto ans = [](int status, std::optional<int> ra = std::nullopt) {
    net::HttpAnswer a;
    a.status = status;
    a.retry_after_s = ra;
    return a;
  };
  net::HttpAnswer refused;
  refused.connect_failed = true;
  net::HttpAnswer timeout;
  timeout.timed_out = true;
  struct Case {
    net::HttpAnswer a;
    unsigned tries;
    std::chrono::milliseconds down;
    Next next;
    std::chrono::milliseconds min_wait, max_wait;
  } cases[] = {
      {ans(200), 1, 0ms, Next::done, 0ms, 0ms},
      {ans(429, 7), 1, 0ms, Next::retry, 7s, 7s},
      {ans(503, 2), 2, 0ms, Next::retry, 2s, 2s},
      {ans(503, 99999), 1, 0ms, Next::retry, 10min, 10min},  // capped
      {ans(429), 1, 0ms, Next::retry, 500ms, 1s},             // no Retry-After: backoff
      {ans(500), 1, 0ms, Next::retry, 500ms, 1s},
      {ans(502), 2, 0ms, Next::retry, 1s, 2s},
      {timeout, 1, 0ms, Next::retry, 500ms, 1s},
      {ans(500), 3, 0ms, Next::fail_tries, 0ms, 0ms},
      {ans(429, 1), 3, 0ms, Next::fail_tries, 0ms, 0ms},
      {ans(400), 1, 0ms, Next::fail_request, 0ms, 0ms},
      {ans(401), 1, 0ms, Next::fail_request, 0ms, 0ms},
      {ans(413), 1, 0ms, Next::fail_request, 0ms, 0ms},
      {refused, 0, 1s, Next::wait, 2s, 4s},
      {refused, 2, 59s, Next::wait, 2s, 4s},  // not counted as tries
      {refused, 0, 60s, Next::fail_unreachable, 0ms, 0ms},
  };
  for (const auto& c : cases) {
    for (double j : {0.0, 0.999}) {
      auto d = decide(c.a, c.tries, c.down, e, j);
      EXPECT_EQ(d.next, c.next) << "status " << c.a.status << " tries " << c.tries;
      EXPECT_GE(d.wait, c.min_wait) << "status " << c.a.status;
      EXPECT_LE(d.wait, c.max_wait) << "status " << c.a.status;
    }
  }
  net::HttpAnswer big = ans(200);
  big.too_large = true;
  EXPECT_EQ(decide(big, 1, 0ms, e, 0).next, Next::retry);
}

TEST(RemoteMemory, SessionBytesCountChunksInFlight) {
  RemoteEngineSettings e;
  e.chunk_seconds = 120;
  e.max_concurrency = 1;
  const auto one = session_bytes(e);
  e.max_concurrency = 4;
  const auto four = session_bytes(e);
  const std::uint64_t pcm = 120 * kRate * 2;
  EXPECT_GE(one, 2 * pcm);  // the one in flight and the one being built
  EXPECT_GE(four - one, 3 * pcm);
  RemoteEngine engine(e, "k");
  EXPECT_EQ(engine.memory_cost().session_bytes, four);
  EXPECT_EQ(engine.memory_cost().model_bytes, 0u);
}

TEST(RemoteFlac, EncodesWhatTheDecoderReadsBack) {
  std::vector<std::int16_t> pcm(3 * kRate);
  for (std::size_t i = 0; i < pcm.size(); ++i)
    pcm[i] = static_cast<std::int16_t>(8000 * std::sin(2 * M_PI * 440 * static_cast<double>(i) / kRate));
  auto flac = media::encode_flac(pcm, kRate);
  ASSERT_TRUE(flac) << flac.error().message;
  EXPECT_EQ(flac->substr(0, 4), "fLaC");
  EXPECT_LT(flac->size(), pcm.size() * 2);  // compressed
  auto path = std::filesystem::temp_directory_path() / "soroka-remote-test.flac";
  std::ofstream(path, std::ios::binary) << *flac;
  auto dec = media::AudioDecoder::open(path.string(), {});
  ASSERT_TRUE(dec) << dec.error().message;
  std::vector<std::int16_t> back, buf(4096);
  for (;;) {
    auto n = dec->read(buf);
    ASSERT_TRUE(n);
    if (*n == 0) break;
    back.insert(back.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
  }
  ASSERT_EQ(back.size(), pcm.size());
  EXPECT_EQ(back, pcm);  // lossless, and no resampling at 16 kHz mono
  // WAV: the same samples back, 44 bytes of header.
  const auto wav = media::encode_wav(pcm, kRate);
  EXPECT_EQ(wav.size(), 44 + pcm.size() * 2);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << wav;
  auto wdec = media::AudioDecoder::open(path.string(), {});
  ASSERT_TRUE(wdec) << wdec.error().message;
  std::vector<std::int16_t> wback;
  for (;;) {
    auto n = wdec->read(buf);
    ASSERT_TRUE(n);
    if (*n == 0) break;
    wback.insert(wback.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
  }
  EXPECT_EQ(wback, pcm);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace soroka::engine::remote

// API table tests against a real `soroka serve`: status codes, error shapes, formats, jobs,
// diarization's fields and clips.
#include <filesystem>
#include <fstream>
#include <future>
#include <regex>

#include <gtest/gtest.h>

#include "service/serve_instance.h"
#include "support/media_fixtures.h"

namespace soroka::test {
namespace {

using nlohmann::json;

// Every error body has OpenAI's shape.
void expect_error_shape(const httplib::Result& r, int status, const std::string& param = "") {
  ASSERT_TRUE(r) << "no response";
  EXPECT_EQ(r->status, status) << r->body;
  auto j = json::parse(r->body, nullptr, false);
  ASSERT_TRUE(j.is_object() && j.contains("error")) << r->body;
  const auto& e = j["error"];
  EXPECT_TRUE(e["message"].is_string() && !e["message"].get<std::string>().empty());
  EXPECT_TRUE(e["type"].is_string());
  EXPECT_TRUE(e.contains("param") && e.contains("code"));
  if (!param.empty()) EXPECT_EQ(e["param"], param) << r->body;
}

httplib::MultipartFormDataItems form(const std::string& content, const std::string& name,
                                     std::vector<std::pair<std::string, std::string>> fields = {}) {
  httplib::MultipartFormDataItems items = {{"file", content, name, "application/octet-stream"}};
  for (auto& [k, v] : fields) items.push_back({k, v, "", ""});
  return items;
}

// A multipart body by hand, for requests httplib's helpers would not make.
std::string multipart(const std::string& boundary, const std::string& file_bytes) {
  return "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.wav\"\r\n"
         "Content-Type: application/octet-stream\r\n\r\n" + file_bytes + "\r\n--" + boundary + "--\r\n";
}

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    if (i + 2 < in.size()) v |= static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += i + 1 < in.size() ? kAlphabet[v >> 6 & 63] : '=';
    out += i + 2 < in.size() ? kAlphabet[v & 63] : '=';
  }
  return out;
}

std::string data_url(std::string_view bytes) { return "data:audio/wav;base64," + base64(bytes); }

// Files in the uploads dir: uploads and the clips beside them.
std::vector<std::string> uploads_of(const ServeInstance& s) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(s.state_dir() + "/uploads", ec))
    names.push_back(e.path().filename());
  return names;
}

class ApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_EQ(missing_media_tools(), "") << "media tools missing";
    // An 8 MiB file limit keeps the oversize cases fast.
    server = new ServeInstance({"SOROKA_MEMORY_MAX_FILE_SIZE=8MiB"});
  }
  static void TearDownTestSuite() {
    delete server;
    server = nullptr;
  }
  static ServeInstance* server;
};
ServeInstance* ApiTest::server = nullptr;

TEST_F(ApiTest, HealthzAndUnknownRoutes) {
  auto c = server->client();
  auto r = c.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["status"], "ok");
  expect_error_shape(c.Get("/v1/nothing"), 404);
  expect_error_shape(c.Get("/v1/jobs/01ZZZZZZZZZZZZZZZZZZZZZZZZ"), 404);
  expect_error_shape(c.Delete("/v1/jobs/01ZZZZZZZZZZZZZZZZZZZZZZZZ"), 404);
}

TEST_F(ApiTest, RequestErrorsTable) {
  auto speech = speech_sample();
  ASSERT_TRUE(speech) << speech.error().message;
  const std::string wav = ServeInstance::read_all(speech->path);
  auto c = server->client();
  struct Case {
    std::string what;
    std::function<httplib::Result()> send;
    int status;
    std::string param;
  };
  std::vector<Case> cases = {
      {"json body", [&] { return c.Post("/v1/audio/transcriptions", "{}", "application/json"); }, 400, "file"},
      {"no file part", [&] { return c.Post("/v1/audio/transcriptions", httplib::MultipartFormDataItems{{"model", "whisper-1", "", ""}}); }, 400, "file"},
      {"bad response_format", [&] { return c.Post("/v1/audio/transcriptions", form(wav, "a.wav", {{"response_format", "docx"}})); }, 400, "response_format"},
      {"unknown model", [&] { return c.Post("/v1/audio/transcriptions", form(wav, "a.wav", {{"model", "gpt-9"}})); }, 400, "model"},
      {"unsupported language", [&] { return c.Post("/v1/audio/transcriptions", form(wav, "a.wav", {{"language", "fr"}})); }, 400, "language"},
      {"empty file", [&] { return c.Post("/v1/jobs", form("", "a.ogg")); }, 400, "file"},
  };
  for (const std::string bad : {"text", "random", "video_only", "unknown_codec"}) {
    auto p = bad_sample(bad);
    ASSERT_TRUE(p) << p.error().message;
    std::string bytes = ServeInstance::read_all(p->string());
    cases.push_back({bad, [&c, bytes, bad] { return c.Post("/v1/audio/transcriptions", form(bytes, bad + ".bin")); }, 415, "file"});
  }
  for (auto& k : cases) {
    SCOPED_TRACE(k.what);
    expect_error_shape(k.send(), k.status, k.param);
  }
}

TEST_F(ApiTest, CorruptMediaIs400Or415) {
  for (const std::string bad : {"truncated_wav", "truncated_mp3", "truncated_ogg", "truncated_mp4"}) {
    SCOPED_TRACE(bad);
    auto p = bad_sample(bad);
    ASSERT_TRUE(p) << p.error().message;
    auto r = server->client().Post("/v1/audio/transcriptions",
                                   form(ServeInstance::read_all(p->string()), bad + ".bin"));
    ASSERT_TRUE(r);
    // Either refused at upload (probe) or by the worker: never a 5xx, always the error shape
    // or a transcript of what was readable.
    if (r->status == 200) continue;
    EXPECT_TRUE(r->status == 400 || r->status == 415) << r->status << " " << r->body;
    expect_error_shape(r, r->status);
  }
}

TEST_F(ApiTest, AFailedJobShowsItsKind) {
  auto p = bad_sample("truncated_wav");
  ASSERT_TRUE(p) << p.error().message;
  auto r = server->client().Post("/v1/jobs", form(ServeInstance::read_all(p->string()), "cut.wav"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 202) << r->body;  // the probe reads its header: it looks like audio
  auto j = server->wait_final(json::parse(r->body)["id"], std::chrono::seconds(60));
  ASSERT_EQ(j["state"], "failed") << j.dump();
  EXPECT_EQ(j["failure_kind"], "invalid_input") << j.dump();
  EXPECT_EQ(j["error"]["code"], "invalid_input");
  EXPECT_EQ(j["attempts"], 1) << "the user's error is not retried";
}

TEST_F(ApiTest, OversizeWithContentLengthIs413) {
  std::string body = multipart("XyZbound", std::string(9u << 20, 'a'));
  auto r = server->client().Post("/v1/audio/transcriptions", body,
                                 "multipart/form-data; boundary=XyZbound");
  expect_error_shape(r, 413, "file");
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "file_too_large");
}

TEST_F(ApiTest, OversizeChunkedWithoutContentLengthIs413) {
  std::string body = multipart("XyZbound", std::string(10u << 20, 'a'));
  auto c = server->client();
  auto r = post_chunked(c, "/v1/jobs", std::move(body), 64 * 1024, "multipart/form-data; boundary=XyZbound");
  expect_error_shape(r, 413, "file");
  // Nothing of it stays on disk.
  std::size_t uploads = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(server->state_dir() + "/uploads")) ++uploads;
  EXPECT_EQ(uploads, 0u);
}

TEST_F(ApiTest, OpenAiResponseFormats) {
  auto speech = speech_sample();
  ASSERT_TRUE(speech) << speech.error().message;
  const std::string wav = ServeInstance::read_all(speech->path);
  // All five at once: they also show that the budget runs jobs side by side.
  std::vector<std::string> formats = {"json", "text", "srt", "vtt", "verbose_json"};
  std::vector<std::future<httplib::Result>> replies;
  for (const auto& f : formats)
    replies.push_back(std::async(std::launch::async, [&, f] {
      return server->client().Post("/v1/audio/transcriptions",
                                   form(wav, "speech.wav", {{"model", "whisper-1"}, {"response_format", f}}));
    }));
  std::map<std::string, std::string> body;
  for (std::size_t i = 0; i < formats.size(); ++i) {
    auto r = replies[i].get();
    ASSERT_TRUE(r) << formats[i];
    ASSERT_EQ(r->status, 200) << formats[i] << ": " << r->body;
    body[formats[i]] = r->body;
  }
  auto j = json::parse(body["json"]);
  ASSERT_TRUE(j["text"].is_string());
  EXPECT_FALSE(j["text"].get<std::string>().empty());
  // OpenAI's {"text"} and our "engine" beside it (its clients ignore members they do not know).
  EXPECT_EQ(j.size(), 2u) << j.dump();
  EXPECT_EQ(j.value("engine", ""), "pocketsphinx");
  auto v = json::parse(body["verbose_json"]);
  EXPECT_EQ(v["task"], "transcribe");
  EXPECT_EQ(v["language"], "en");
  EXPECT_NEAR(v["duration"].get<double>(), speech->duration_s, 1.0);
  ASSERT_TRUE(v["segments"].is_array());
  ASSERT_FALSE(v["segments"].empty());
  for (std::size_t i = 0; i < v["segments"].size(); ++i) {
    const auto& s = v["segments"][i];
    EXPECT_EQ(s["id"], static_cast<int>(i));
    EXPECT_LE(s["start"].get<double>(), s["end"].get<double>());
    EXPECT_TRUE(s["text"].is_string());
  }
  EXPECT_EQ(v["text"], j["text"]);
  EXPECT_EQ(body["text"], j["text"].get<std::string>() + "\n");
  EXPECT_TRUE(std::regex_search(body["srt"], std::regex(R"(^1\r?\n\d\d:\d\d:\d\d,\d\d\d --> \d\d:\d\d:\d\d,\d\d\d)")))
      << body["srt"];
  EXPECT_TRUE(body["vtt"].starts_with("WEBVTT")) << body["vtt"];
  EXPECT_NE(body["vtt"].find(" --> "), std::string::npos);
}

TEST_F(ApiTest, AsyncJobLifecycle) {
  auto speech = speech_sample();
  ASSERT_TRUE(speech);
  auto r = server->client().Post("/v1/jobs", form(ServeInstance::read_all(speech->path), "s.wav", {{"model", "sim-tiny"}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 202) << r->body;
  auto created = json::parse(r->body);
  EXPECT_EQ(created["state"], "queued");
  std::string id = created["id"];
  ASSERT_EQ(id.size(), 26u);
  auto j = server->wait_final(id, std::chrono::seconds(60));
  ASSERT_EQ(j["state"], "succeeded") << j.dump();
  EXPECT_EQ(j["progress"], 1.0);
  EXPECT_EQ(j["attempts"], 0);
  EXPECT_EQ(j["model"], "sim-tiny");
  EXPECT_GT(j.value("peak_bytes", 0ull), 273'000'000ull);  // the simulated model was resident
  ASSERT_TRUE(j["result"].is_object());
  EXPECT_NE(j["result"]["text"].get<std::string>().find("simulated"), std::string::npos);
}

TEST_F(ApiTest, CancelRunningAndQueued) {
  auto speech = speech_sample();
  ASSERT_TRUE(speech);
  std::string id = server->submit(speech->path.string(), "sim-slow");
  ASSERT_FALSE(id.empty());
  // Wait until it runs, then cancel.
  for (int i = 0; i < 100 && server->job(id)["state"] != "running"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto t0 = std::chrono::steady_clock::now();
  auto d = server->client().Delete("/v1/jobs/" + id);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, 200);
  auto j = server->wait_final(id, std::chrono::seconds(10));
  EXPECT_EQ(j["state"], "cancelled") << j.dump();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  // Cancelling a finished job changes nothing.
  auto again = server->client().Delete("/v1/jobs/" + id);
  ASSERT_TRUE(again);
  EXPECT_EQ(json::parse(again->body)["state"], "cancelled");
}

TEST_F(ApiTest, MetricsExposition) {
  auto r = server->client().Get("/metrics");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  for (const char* name :
       {"soroka_memory_level ", "soroka_memory_used_bytes ", "soroka_memory_limit_bytes ",
        "soroka_memory_available_bytes ", "soroka_jobs{state=\"queued\"} ", "soroka_queue_length ",
        "soroka_worker_starts_total ", "soroka_worker_crashes_total ", "soroka_worker_oom_kills_total ",
        "soroka_admission_rejections_total{reason=\"too_large\"} ", "soroka_budget_reserved_bytes ",
        "soroka_budget_capacity_bytes "})
    EXPECT_NE(r->body.find(name), std::string::npos) << name;
  // Every sample line is NAME{labels} VALUE with a numeric value.
  std::istringstream in(r->body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    EXPECT_TRUE(std::regex_match(line, std::regex(R"([a-z_]+(\{[a-z_]+="[a-z_]+"\})? -?[0-9.e+]+)"))) << line;
  }
}

// Per-key limits come from the settings snapshot of each request: a SIGHUP changes them.
// Diarization's requests: every bad value is a 400 naming its field, hostile clips are bounded
// while they stream, and known voices' clips are stored beside the upload, never decoded by
// the service, and removed with the job.
TEST_F(ApiTest, DiarizeBadValuesAre400NamingTheFieldAndLeaveNoFiles) {
  auto speech = short_speech_sample();
  ASSERT_TRUE(speech) << speech.error().message;
  const std::string wav = ServeInstance::read_all(speech->path);
  const std::string clip = data_url(wav.substr(0, 64000));
  std::vector<std::pair<std::string, std::string>> eleven;
  for (int i = 0; i < 11; ++i) {
    eleven.push_back({"known_speaker_names[]", "n" + std::to_string(i)});
    eleven.push_back({"known_speaker_references[]", clip});
  }
  struct Case {
    std::string what;
    std::vector<std::pair<std::string, std::string>> fields;
    std::string param;
  };
  const std::vector<Case> cases = {
      {"diarize not a boolean", {{"diarize", "maybe"}}, "diarize"},
      {"speakers not a number", {{"speakers", "two"}}, "speakers"},
      {"speakers out of range", {{"speakers", "40"}}, "speakers"},
      {"min above max", {{"min_speakers", "4"}, {"max_speakers", "2"}}, "min_speakers"},
      {"speakers outside min..max", {{"speakers", "5"}, {"max_speakers", "3"}}, "speakers"},
      {"off yet diarized_json", {{"diarize", "false"}, {"response_format", "diarized_json"}}, "diarize"},
      {"a name without a clip", {{"known_speaker_names[]", "Anna"}}, "known_speaker_references[]"},
      {"a clip without a name", {{"known_speaker_references[]", clip}}, "known_speaker_names[]"},
      {"a name twice",
       {{"known_speaker_names[]", "Anna"}, {"known_speaker_references[]", clip},
        {"known_speaker_names[]", "Anna"}, {"known_speaker_references[]", clip}},
       "known_speaker_names[]"},
      {"eleven clips", eleven, "known_speaker_references[]"},
      {"more known voices than max_speakers",
       {{"max_speakers", "1"}, {"known_speaker_names[]", "A"}, {"known_speaker_references[]", clip},
        {"known_speaker_names[]", "B"}, {"known_speaker_references[]", clip}},
       "known_speaker_names[]"},
      {"more known voices than speakers",
       {{"speakers", "1"}, {"known_speaker_names[]", "A"}, {"known_speaker_references[]", clip},
        {"known_speaker_names[]", "B"}, {"known_speaker_references[]", clip}},
       "known_speaker_names[]"},
      {"a clip that is a URL", {{"known_speaker_names[]", "A"}, {"known_speaker_references[]", "https://x/a.wav"}},
       "known_speaker_references[]"},
      {"a clip over 1 MiB",
       {{"known_speaker_names[]", "A"}, {"known_speaker_references[]", data_url(std::string((1 << 20) + 3, 'x'))}},
       "known_speaker_references[]"},
      {"a clip cut off", {{"known_speaker_names[]", "A"}, {"known_speaker_references[]", clip + "A"}},
       "known_speaker_references[]"},
  };
  auto c = server->client();
  const auto before = uploads_of(*server);  // other tests' jobs may still hold theirs
  for (const auto& k : cases) {
    SCOPED_TRACE(k.what);
    auto r = c.Post("/v1/audio/transcriptions", form(wav, "talk.wav", k.fields));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << r->body;
    EXPECT_EQ(json::parse(r->body)["error"]["param"], k.param) << r->body;
  }
  EXPECT_EQ(uploads_of(*server), before) << "refused uploads and their clips are removed";
}

TEST_F(ApiTest, DiarizeClipsAreKeptBesideTheUploadUntilTheJobEnds) {
  auto speech = short_speech_sample();
  ASSERT_TRUE(speech) << speech.error().message;
  const std::string wav = ServeInstance::read_all(speech->path);
  auto r = server->client().Post(
      "/v1/jobs", form(wav, "talk.wav", {{"model", "gpt-4o-transcribe-diarize"},
                             {"known_speaker_names[]", "Anna"},
                             {"known_speaker_references[]", data_url(wav)},
                             {"known_speaker_names[]", "Борис"},
                             {"known_speaker_references[]", data_url(wav)}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 202) << r->body;
  const std::string id = json::parse(r->body)["id"];
  std::vector<std::string> clips;
  for (const auto& n : uploads_of(*server))
    if (n.find(".speaker") != std::string::npos) clips.push_back(n);
  ASSERT_EQ(clips.size(), 2u) << "two clips beside the upload";
  std::sort(clips.begin(), clips.end());
  EXPECT_TRUE(clips[0].ends_with(".upload.speaker0"));
  EXPECT_EQ(ServeInstance::read_all(server->state_dir() + "/uploads/" + clips[0]), wav);
  EXPECT_EQ(ServeInstance::read_all(server->state_dir() + "/uploads/" + clips[1]), wav);

  auto j = server->wait_final(id, std::chrono::seconds(120));
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["state"], "succeeded") << j.dump();
  // The scheduler removes the files just after it records the end: give it a moment.
  const std::string input = clips[0].substr(0, clips[0].rfind('.'));
  auto ours_left = [&] {
    std::vector<std::string> left;
    for (const auto& n : uploads_of(*server))
      if (n == input || n.starts_with(input + ".")) left.push_back(n);
    return left;
  };
  for (int i = 0; i < 50 && !ours_left().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(ours_left(), std::vector<std::string>{}) << "the input and its clips go when the job ends";
}

// A clip is probed like the file (in the probe child, never in the service) before the job is
// queued: one that is no audio, or too short to be a voice, is refused at once, naming whose.
TEST_F(ApiTest, ClipsAreProbedAtSubmissionAndABadOneIsRefusedNamingItsSpeaker) {
  auto speech = short_speech_sample();
  ASSERT_TRUE(speech) << speech.error().message;
  const std::string wav = ServeInstance::read_all(speech->path);
  const auto one_second = media_cache_dir() / "short-speech-first-second.wav";
  ASSERT_TRUE(run_tool({"sox", speech->path.string(), one_second.string(), "trim", "0", "1"}));
  const std::string short_clip = ServeInstance::read_all(one_second);
  struct Case {
    std::string what, clip;
    int status;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"no audio", "RIFF not really a wave file", 415, "the clip of 'Борис'"},
      {"one second", short_clip, 400, "the clip of 'Борис': shorter than 2 s"},
  };
  const auto before = uploads_of(*server);  // other tests' jobs may still hold theirs
  for (const auto& k : cases) {
    SCOPED_TRACE(k.what);
    auto r = server->client().Post(
        "/v1/jobs", form(wav, "talk.wav", {{"model", "gpt-4o-transcribe-diarize"},
                               {"known_speaker_names[]", "Anna"},
                               {"known_speaker_references[]", data_url(wav)},
                               {"known_speaker_names[]", "Борис"},
                               {"known_speaker_references[]", data_url(k.clip)}}));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, k.status) << r->body;
    EXPECT_NE(r->body.find(k.says), std::string::npos) << r->body;
  }
  EXPECT_EQ(uploads_of(*server), before) << "refused uploads and their clips are removed";
}

TEST(ApiReload, SubmissionRateFollowsTheReloadedConfig) {
  const std::string dir = make_temp_dir("soroka-api-hup-");
  const std::string config = dir + "/soroka.toml";
  std::ofstream(config, std::ios::trunc) << "[server]\nkey_submissions_per_minute = 1\n";
  ServeInstance server({"SOROKA_CONFIG=" + config});
  auto upload = [&] {
    auto r = server.client().Post("/v1/jobs", form("not audio at all", "x.ogg"));
    return r ? r->status : -1;
  };
  EXPECT_EQ(upload(), 415);  // the rate allowed it; the probe refused the bytes
  EXPECT_EQ(upload(), 429);
  std::ofstream(config, std::ios::trunc) << "[server]\nkey_submissions_per_minute = 0\n";
  ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
  int got = 429;
  for (int i = 0; i < 100 && (got = upload()) == 429; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(got, 415) << "no limit after the reload";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace soroka::test

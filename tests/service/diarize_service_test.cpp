// Diarization's requests against a real `soroka serve`: every bad value is a 400 naming its
// field, hostile clips are bounded while they stream, and known voices' clips are stored
// beside the upload, never decoded by the service, and removed with the job.
#include <filesystem>

#include <gtest/gtest.h>

#include "service/serve_instance.h"
#include "support/media_fixtures.h"

namespace soroka::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

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

using Fields = std::vector<std::pair<std::string, std::string>>;

httplib::MultipartFormDataItems form(const std::string& wav, const Fields& fields) {
  httplib::MultipartFormDataItems items = {{"file", wav, "talk.wav", "application/octet-stream"}};
  for (const auto& [k, v] : fields) items.push_back({k, v, "", ""});
  return items;
}

// Files in the uploads dir: uploads and the clips beside them.
std::vector<std::string> uploads(const ServeInstance& s) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(s.state_dir() + "/uploads", ec)) names.push_back(e.path().filename());
  return names;
}

class DiarizeServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_EQ(missing_media_tools(), "") << "media tools missing";
    server = new ServeInstance({"SOROKA_MEMORY_MAX_FILE_SIZE=8MiB"});
  }
  static void TearDownTestSuite() {
    delete server;
    server = nullptr;
  }
  static ServeInstance* server;
};
ServeInstance* DiarizeServiceTest::server = nullptr;

TEST_F(DiarizeServiceTest, BadValuesAre400NamingTheFieldAndLeaveNoFiles) {
  auto speech = short_speech_sample();
  ASSERT_TRUE(speech) << speech.error().message;
  const std::string wav = ServeInstance::read_all(speech->path);
  const std::string clip = data_url(wav.substr(0, 64000));
  Fields eleven;
  for (int i = 0; i < 11; ++i) {
    eleven.push_back({"known_speaker_names[]", "n" + std::to_string(i)});
    eleven.push_back({"known_speaker_references[]", clip});
  }
  struct Case {
    std::string what;
    Fields fields;
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
      {"a clip that is a URL", {{"known_speaker_names[]", "A"}, {"known_speaker_references[]", "https://x/a.wav"}},
       "known_speaker_references[]"},
      {"a clip over 1 MiB",
       {{"known_speaker_names[]", "A"}, {"known_speaker_references[]", data_url(std::string((1 << 20) + 3, 'x'))}},
       "known_speaker_references[]"},
      {"a clip cut off", {{"known_speaker_names[]", "A"}, {"known_speaker_references[]", clip + "A"}},
       "known_speaker_references[]"},
  };
  auto c = server->client();
  for (const auto& k : cases) {
    SCOPED_TRACE(k.what);
    auto r = c.Post("/v1/audio/transcriptions", form(wav, k.fields));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << r->body;
    EXPECT_EQ(json::parse(r->body)["error"]["param"], k.param) << r->body;
  }
  EXPECT_EQ(uploads(*server), std::vector<std::string>{}) << "refused uploads and their clips are removed";
}

TEST_F(DiarizeServiceTest, ClipsAreKeptBesideTheUploadUntilTheJobEnds) {
  auto speech = short_speech_sample();
  ASSERT_TRUE(speech) << speech.error().message;
  const std::string wav = ServeInstance::read_all(speech->path);
  // Not audio at all: the service must not care (it never parses a clip); the worker does.
  const std::string clip_bytes = "RIFF not really a wave file";
  auto r = server->client().Post(
      "/v1/jobs", form(wav, {{"model", "gpt-4o-transcribe-diarize"},
                             {"known_speaker_names[]", "Anna"},
                             {"known_speaker_references[]", data_url(clip_bytes)},
                             {"known_speaker_names[]", "Борис"},
                             {"known_speaker_references[]", data_url(wav.substr(0, 32000))}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 202) << r->body;
  const std::string id = json::parse(r->body)["id"];
  std::vector<std::string> clips;
  for (const auto& n : uploads(*server))
    if (n.find(".speaker") != std::string::npos) clips.push_back(n);
  ASSERT_EQ(clips.size(), 2u) << "two clips beside the upload";
  std::sort(clips.begin(), clips.end());
  EXPECT_TRUE(clips[0].ends_with(".upload.speaker0"));
  EXPECT_EQ(ServeInstance::read_all(server->state_dir() + "/uploads/" + clips[0]), clip_bytes);
  EXPECT_EQ(ServeInstance::read_all(server->state_dir() + "/uploads/" + clips[1]), wav.substr(0, 32000));

  auto j = server->wait_final(id, std::chrono::seconds(120));
  ASSERT_TRUE(j.is_object());
  // Anna's clip is not audio: the worker refuses the request, once, without a retry.
  EXPECT_EQ(j["state"], "failed") << j.dump();
  EXPECT_EQ(j["failure_kind"], "invalid_request") << j.dump();
  EXPECT_NE(j["error"]["message"].get<std::string>().find("the clip of 'Anna'"), std::string::npos) << j.dump();
  EXPECT_EQ(j["attempts"], 1) << j.dump();
  // The scheduler removes the files just after it records the end: give it a moment.
  for (int i = 0; i < 50 && !uploads(*server).empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(uploads(*server), std::vector<std::string>{}) << "the input and its clips go when the job ends";
}

}  // namespace
}  // namespace soroka::test

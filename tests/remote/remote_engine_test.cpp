// Remote engines against FakeWhisper: both protocols, chunking and stitching (every word once,
// in order, at its time), concurrency bounds, prompts, faults retried without losing audio,
// 4xx and exhausted tries failing clearly, the key sent and never logged, several URLs,
// unreachable servers and the fallback.
#include <filesystem>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "config/settings.h"
#include "engine/factory.h"
#include "engine/remote/remote_engine.h"
#include "oomguard/budget.h"
#include "oomguard/model_registry.h"
#include "pipeline/pipeline.h"
#include "remote/fake_whisper.h"
#include "service/job_params.h"
#include "service/serve_instance.h"

namespace soroka::engine::remote {
namespace {

using test::FakeWhisper;
using Fault = FakeWhisper::Fault;
constexpr const char* kKey = "sk-test-remote-0123456789";

class RemoteEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir("soroka-remote-");
    wav_ = dir_ + "/bursts.wav";
    test::tone_bursts_wav(wav_, kBursts);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  RemoteEngineSettings settings(const std::string& url) const {
    RemoteEngineSettings e;
    e.name = "w";
    e.urls = {url};
    // 46 bursts of 0.8 s are 55 s of segments once the pauses are cut (0.2 s pads): 3 chunks.
    e.chunk_seconds = 20;
    e.max_concurrency = 2;
    e.timeout = std::chrono::seconds(10);
    e.max_tries = 4;
    e.unreachable_wait = std::chrono::seconds(3);
    return e;
  }
  Result<pipeline::Transcript> run(RemoteEngine& engine) const {
    return pipeline::transcribe_file(engine, wav_, pipeline::default_options());
  }
  // Every burst heard once, in order, each word at its burst's time, times never going back.
  static void expect_all_words(const pipeline::Transcript& t, bool timed = true) {
    std::vector<std::string> words;
    for (const auto& s : t.segments) {
      std::istringstream in(s.text);
      for (std::string w; in >> w;) words.push_back(w);
    }
    ASSERT_EQ(words.size(), static_cast<std::size_t>(kBursts)) << t.text();
    for (int k = 0; k < kBursts; ++k) EXPECT_EQ(words[static_cast<std::size_t>(k)], "w" + std::to_string(k));
    if (!timed) return;
    double last = 0;
    int k = 0;
    for (const auto& s : t.segments) {
      for (const auto& w : s.words) {
        EXPECT_NEAR(w.start_s, test::burst_start_s(k), 0.05) << w.text;
        EXPECT_GE(w.start_s, last);
        last = w.end_s;
        ++k;
      }
    }
    EXPECT_EQ(k, kBursts);
  }

  void expect_transcribed(RemoteEngine& engine) const {
    auto t = run(engine);
    ASSERT_TRUE(t) << t.error().message;
    expect_all_words(*t);
  }

  // One request at a time, two tries, every answer `fault`.
  Result<pipeline::Transcript> fail_twice(FakeWhisper& fake, Fault fault) const {
    fake.always(std::move(fault));
    auto s = settings(fake.openai_url());
    s.max_tries = 2;
    s.max_concurrency = 1;
    RemoteEngine engine(s, kKey);
    return run(engine);
  }

  static constexpr int kBursts = 46;  // 0.5 + 46 * 1.5 = 69.5 s
  std::string dir_, wav_;
};

TEST_F(RemoteEngineTest, OpenAiProtocolChunksSendsAtMostMaxConcurrencyAndStitches) {
  FakeWhisper fake;
  fake.slow(400);  // answers take long enough for chunks to queue up behind them
  auto s = settings(fake.openai_url());
  RemoteEngine engine(s, kKey);
  auto t = run(engine);
  ASSERT_TRUE(t) << t.error().message;
  expect_all_words(*t);
  EXPECT_EQ(t->engine, "w");
  auto reqs = fake.requests();
  ASSERT_GE(reqs.size(), 3u);
  for (const auto& r : reqs) {
    EXPECT_EQ(r.path, "/v1/audio/transcriptions");
    EXPECT_EQ(r.authorization, std::string("Bearer ") + kKey);
    EXPECT_EQ(r.model, "whisper-1");
    EXPECT_EQ(r.response_format, "verbose_json");
    EXPECT_EQ(r.language, "en");
    EXPECT_EQ(r.granularities, (std::vector<std::string>{"segment", "word"}));
    EXPECT_LT(r.file_bytes, 30u * 16000 * 2);  // FLAC, smaller than the chunk's PCM
    EXPECT_EQ(r.file_magic, "fLaC");
    EXPECT_EQ(r.file_name, "chunk.flac");
  }
  EXPECT_LE(fake.high_water(), 2);
  EXPECT_EQ(fake.high_water(), 2);  // the decoder is far ahead of 400 ms answers
}

TEST_F(RemoteEngineTest, OneAtATimePassesThePreviousChunksLastWordsAsPrompt) {
  FakeWhisper fake;
  auto s = settings(fake.openai_url());
  s.max_concurrency = 1;
  RemoteEngine engine(s, kKey);
  expect_transcribed(engine);
  auto reqs = fake.requests();
  ASSERT_GE(reqs.size(), 3u);
  EXPECT_TRUE(reqs[0].prompt.empty());
  EXPECT_EQ(fake.high_water(), 1);
  // Chunk i's prompt ends with the last word chunk i-1 was heard to say.
  std::smatch m;
  for (std::size_t i = 1; i < reqs.size(); ++i) {
    ASSERT_FALSE(reqs[i].prompt.empty()) << i;
    ASSERT_TRUE(std::regex_search(reqs[i].prompt, m, std::regex("w(\\d+)$"))) << reqs[i].prompt;
  }
}

TEST_F(RemoteEngineTest, WhisperCppProtocol) {
  FakeWhisper fake;
  auto s = settings(fake.base());
  s.type = RemoteProtocol::whisper_cpp;
  RemoteEngine engine(s, "");
  expect_transcribed(engine);
  for (const auto& r : fake.requests()) {
    EXPECT_EQ(r.path, "/inference");
    EXPECT_TRUE(r.model.empty());
    EXPECT_TRUE(r.authorization.empty());
    EXPECT_EQ(r.file_magic, "RIFF");  // WAV: what any whisper.cpp server reads
  }
  // audio_format = "flac" for a server that reads it (whisper.cpp >= 1.7, --convert).
  s.audio_format = "flac";
  RemoteEngine flac(s, "");
  const auto before = fake.requests().size();
  auto t2 = run(flac);
  ASSERT_TRUE(t2) << t2.error().message;
  expect_all_words(*t2);
  EXPECT_EQ(fake.requests().at(before).file_magic, "fLaC");
}

TEST_F(RemoteEngineTest, TextOnlyAnswersKeepEveryWordOnce) {
  FakeWhisper fake;
  fake.text_only(true);
  RemoteEngine engine(settings(fake.openai_url()), kKey);
  auto t = run(engine);
  ASSERT_TRUE(t) << t.error().message;
  expect_all_words(*t, /*timed=*/false);
}

TEST_F(RemoteEngineTest, FaultsAreRetriedAndNoAudioIsLost) {
  FakeWhisper fake;
  fake.script({{Fault::status, 429, 1}, {Fault::status, 503, 1}, {Fault::status, 500}, {Fault::reset}, {Fault::garbled}});
  auto s = settings(fake.openai_url());
  s.max_tries = 6;
  RemoteEngine engine(s, kKey);
  expect_transcribed(engine);
  const auto chunks = fake.requests().size() - 5;
  EXPECT_GE(chunks, 3u);
}

TEST_F(RemoteEngineTest, ATimeoutIsRetried) {
  FakeWhisper fake;
  fake.script({{Fault::delay, 0, -1, "", 3000}});
  auto s = settings(fake.openai_url());
  s.timeout = std::chrono::milliseconds(1000);
  RemoteEngine engine(s, kKey);
  expect_transcribed(engine);
}

// An engine that lists no "en" still starts (a worker's warm-up start() asks for none in
// particular); a job in a language it lacks is refused by the pipeline, before any request.
TEST_F(RemoteEngineTest, AnEngineWithoutEnglishStartsAndRefusesEnglishJobs) {
  FakeWhisper fake;
  auto s = settings(fake.openai_url());
  s.languages = {"ru"};
  RemoteEngine engine(s, kKey);
  auto warm = engine.start(engine::SessionParams{});
  EXPECT_TRUE(warm) << warm.error().message;
  auto t = run(engine);  // default_options(): English
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().kind, FailureKind::invalid_request);
  EXPECT_NE(t.error().message.find("language 'en' is not supported by w (supported: ru)"), std::string::npos)
      << t.error().message;
  EXPECT_TRUE(fake.requests().empty());
}

TEST_F(RemoteEngineTest, A4xxFailsWithTheServersMessage) {
  FakeWhisper fake;
  fake.always(Fault{Fault::status, 400, -1, R"({"error":{"message":"Invalid file format."}})"});
  RemoteEngine engine(settings(fake.openai_url()), kKey);
  auto t = run(engine);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().kind, FailureKind::invalid_request);
  EXPECT_NE(t.error().message.find("Invalid file format."), std::string::npos) << t.error().message;
  EXPECT_NE(t.error().message.find("HTTP 400"), std::string::npos) << t.error().message;
  EXPECT_LE(fake.requests().size(), 2u);  // one per chunk in flight, no retries
}

TEST_F(RemoteEngineTest, AChunkThatKeepsFailingFailsTheJobAfterMaxTries) {
  FakeWhisper fake;
  auto t = fail_twice(fake, Fault{Fault::status, 500});
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().kind, FailureKind::internal);
  EXPECT_NE(t.error().message.find("failed after 2 tries"), std::string::npos) << t.error().message;
  EXPECT_NE(t.error().message.find("the audio at 00:00:00"), std::string::npos) << t.error().message;
  EXPECT_EQ(fake.requests().size(), 2u);
}

TEST_F(RemoteEngineTest, AnAnswerOverTheBoundIsCutOffAndRetried) {
  FakeWhisper fake;
  auto t = fail_twice(fake, Fault{Fault::huge});
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("answer over 4194304 bytes"), std::string::npos) << t.error().message;
  EXPECT_EQ(fake.requests().size(), 2u);
}

TEST_F(RemoteEngineTest, CancellingEndsTheWaitForAnswers) {
  FakeWhisper fake;
  fake.slow(30'000);  // answers that would take half a minute
  RemoteEngine engine(settings(fake.openai_url()), kKey);
  std::stop_source stop;
  auto options = pipeline::default_options();
  options.stop = stop.get_token();
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    stop.request_stop();
  });
  auto t = pipeline::transcribe_file(engine, wav_, options);
  canceller.join();
  ASSERT_FALSE(t);  // not the transcript the answers would have given after 30 s
  EXPECT_EQ(t.error().code, ECANCELED) << t.error().message;
}

TEST_F(RemoteEngineTest, TheApiKeyIsSentButNeverLoggedNorInErrors) {
  FakeWhisper fake;
  // A server that echoes the key it refuses, after failures that are logged as retries.
  fake.script({{Fault::status, 500, -1, std::string(R"({"error":{"message":"boom )") + kKey + "\"}}"}});
  fake.always(Fault{Fault::status, 401, -1, std::string(R"({"error":{"message":"Incorrect API key provided: )") + kKey + "\"}}"});
  std::ostringstream log;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
  auto logger = std::make_shared<spdlog::logger>("capture", sink);
  logger->set_level(spdlog::level::trace);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);
  RemoteEngine engine(settings(fake.openai_url()), kKey);
  auto t = run(engine);
  spdlog::set_default_logger(previous);
  ASSERT_FALSE(t);
  EXPECT_EQ(fake.requests().at(0).authorization, std::string("Bearer ") + kKey);
  EXPECT_NE(log.str().find("event=remote_retry"), std::string::npos) << log.str();
  EXPECT_EQ(log.str().find(kKey), std::string::npos) << log.str();
  EXPECT_EQ(t.error().message.find(kKey), std::string::npos) << t.error().message;
  EXPECT_NE(t.error().message.find("<api key>"), std::string::npos) << t.error().message;
}

TEST_F(RemoteEngineTest, SeveralUrlsShareTheWorkAndADownOneIsSetAside) {
  FakeWhisper a, b;
  a.slow(300);
  b.slow(300);
  const std::string down = "http://127.0.0.1:" + std::to_string(test::free_loopback_port()) + "/v1";
  auto s = settings(a.openai_url());
  s.urls = {a.openai_url(), down, b.openai_url()};
  s.max_concurrency = 2;
  RemoteEngine engine(s, kKey);
  expect_transcribed(engine);
  EXPECT_GE(a.requests().size(), 1u);
  EXPECT_GE(b.requests().size(), 1u);
  EXPECT_LE(a.high_water() + b.high_water(), 2 + 1);  // never more than 2 at once in all
}

TEST_F(RemoteEngineTest, OversizedChunksAreCutShorter) {
  FakeWhisper fake;
  auto s = settings(fake.openai_url());
  RemoteEngine whole(s, kKey);
  ASSERT_TRUE(run(whole));
  std::size_t biggest = 0;
  for (const auto& r : fake.requests()) biggest = std::max(biggest, r.file_bytes);
  const auto before = fake.requests().size();
  // Room for a little over half the largest chunk (16 KiB is the form's share).
  s.max_request_bytes = (16u << 10) + biggest * 6 / 10;
  RemoteEngine cut(s, kKey);
  auto t = run(cut);
  ASSERT_TRUE(t) << t.error().message;
  expect_all_words(*t);
  const auto reqs = fake.requests();
  EXPECT_GT(reqs.size() - before, before);
  for (std::size_t i = before; i < reqs.size(); ++i) EXPECT_LE(reqs[i].file_bytes, biggest * 6 / 10);
}

TEST_F(RemoteEngineTest, AnUnreachableServerFailsClearlyOrFallsBack) {
  const std::string down = "http://127.0.0.1:" + std::to_string(test::free_loopback_port()) + "/v1";
  auto s = settings(down);
  s.unreachable_wait = std::chrono::seconds(2);
  RemoteEngine engine(s, kKey);
  auto t = run(engine);
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("no server could be reached"), std::string::npos) << t.error().message;

  Settings all;
  s.fallback = "pocketsphinx";
  all.engine.remote = {s};
  oomguard::MemoryBudget budget(4ull << 30);
  oomguard::ModelRegistry registry(budget, {});
  auto fb = make_engine(all, "w", registry);
  ASSERT_TRUE(fb) << fb.error().message;
  const std::string short_wav = dir_ + "/short.wav";  // pocketsphinx on 70 s would take 25 s
  test::tone_bursts_wav(short_wav, 3);
  auto ft = pipeline::transcribe_file(**fb, short_wav, pipeline::default_options());
  ASSERT_TRUE(ft) << ft.error().message;
  EXPECT_EQ(ft->engine, "pocketsphinx (fallback for w)");
  // ... and so do the API's JSON answers.
  for (auto f : {service::ResponseFormat::json, service::ResponseFormat::verbose_json,
                 service::ResponseFormat::diarized_json}) {
    auto j = nlohmann::json::parse(service::render(*ft, f).body);
    EXPECT_EQ(j.value("engine", ""), "pocketsphinx (fallback for w)") << j.dump();
  }
}

}  // namespace
}  // namespace soroka::engine::remote

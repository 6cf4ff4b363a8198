// The Telegram bot end to end: a real `soroka bot` (workers, job store) against FakeBotApi:
// media to transcript, commands in two languages, limits, injected failures, kill -9.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "service/fake_bot_api.h"
#include "service/serve_instance.h"
#include "support/media_fixtures.h"
#include "support/run.h"

namespace soroka::test {
namespace {

using namespace std::chrono_literals;
constexpr std::int64_t kChat = 5001;

// A `soroka bot` on its own state dir, talking to `api`; its log (stderr) kept in a file.
class BotInstance {
 public:
  BotInstance(FakeBotApi& api, std::vector<std::string> env, std::string token = "")
      : api_(api), env_(std::move(env)), state_(make_temp_dir("soroka-bot-")),
        token_(token.empty() ? api.token() : token) {}
  ~BotInstance() {
    proc_.reset();
    std::error_code ec;
    std::filesystem::remove_all(state_, ec);
  }
  // Starts and waits for its first getUpdates (false: it did not poll within 20 s).
  bool start() {
    const auto polls = api_.calls("getUpdates").size();
    launch();
    return eventually([&] { return api_.calls("getUpdates").size() > polls; }, 20s);
  }
  void launch() {
    std::vector<std::string> env = {"SOROKA_ENGINE_SIMULATION=true", "SOROKA_LOG_LEVEL=debug",
                                    "SOROKA_TELEGRAM_TOKEN=" + token_, "SOROKA_TELEGRAM_API_URL=" + api_.url(),
                                    "SOROKA_TELEGRAM_PROGRESS_INTERVAL_MS=300"};
    env.insert(env.end(), env_.begin(), env_.end());
    proc_ = std::make_unique<Process>(
        std::vector<std::string>{"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>>" + log_path(), SOROKA_BINARY, "bot",
                                 "--state-dir", state_},
        env);
  }
  void crash() {
    ::kill(proc_->pid(), SIGKILL);
    proc_->stop(0, 5s);
    proc_.reset();
  }
  std::optional<int> stop(int sig = SIGTERM) {
    auto r = proc_->stop(sig, 30s);
    proc_.reset();
    return r;
  }
  pid_t pid() const { return proc_ ? proc_->pid() : -1; }
  std::string log_path() const { return state_ + ".log"; }
  std::string log() const {
    std::ifstream f(log_path());
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }

 private:
  FakeBotApi& api_;
  std::vector<std::string> env_;
  std::string state_;
  std::string token_;
  std::unique_ptr<Process> proc_;
};

std::string voice_note() {
  auto speech = short_speech_sample();
  if (!speech) return {};
  auto ogg = container_sample("ogg_opus", *speech);
  return ogg ? ServeInstance::read_all(ogg->path.string()) : std::string();
}

// Messages in the chat whose text contains `needle`.
int count_with(const FakeBotApi& api, std::int64_t chat, const std::string& needle) {
  int n = 0;
  for (const auto& m : api.messages(chat)) n += m.text.find(needle) != std::string::npos;
  return n;
}

bool any_with(const FakeBotApi& api, std::int64_t chat, const std::string& needle) {
  return count_with(api, chat, needle) > 0;
}

class TelegramBot : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto m = missing_media_tools(); !m.empty()) GTEST_SKIP() << m;
  }
  FakeBotApi api;
};

TEST_F(TelegramBot, StartsWithGetMeWebhookOffAndCommandsThenLongPolls) {
  BotInstance bot(api, {});
  ASSERT_TRUE(bot.start()) << bot.log();
  ASSERT_FALSE(api.calls("getMe").empty());
  auto webhook = api.calls("deleteWebhook");
  ASSERT_EQ(webhook.size(), 1u);
  EXPECT_EQ(webhook[0].params.value("drop_pending_updates", true), false);
  auto commands = api.calls("setMyCommands");
  ASSERT_EQ(commands.size(), 2u);
  EXPECT_EQ(commands[1].params.value("language_code", ""), "ru");
  auto poll = api.calls("getUpdates").back().params;
  EXPECT_GE(poll.value("timeout", 0), 25);
  EXPECT_EQ(poll["allowed_updates"], nlohmann::json::array({"message"}));
  EXPECT_EQ(bot.stop(), 0);
}

TEST_F(TelegramBot, WrongTokenIsAClearErrorAndTheTokenIsNeverLogged) {
  BotInstance bot(api, {}, "999:WRONG-secret-token");
  bot.launch();
  EXPECT_EQ(bot.stop(0), 1);  // exits by itself, non-zero
  const std::string log = bot.log();
  EXPECT_NE(log.find("refused the token"), std::string::npos) << log;
  EXPECT_EQ(log.find("WRONG-secret-token"), std::string::npos) << log;
}

TEST_F(TelegramBot, VoiceMessageGetsItsTranscriptInThePlaceholder) {
  const std::string ogg = voice_note();
  ASSERT_FALSE(ogg.empty());
  BotInstance bot(api, {});
  ASSERT_TRUE(bot.start()) << bot.log();
  api.push_media(kChat, "voice", ogg);
  // pocketsphinx on 5 s of flite speech: a word of it is recognised.
  ASSERT_TRUE(eventually([&] {
    auto m = api.messages(kChat);
    return m.size() == 1 && m[0].text.find("…") == std::string::npos && m[0].text.size() > 8;
  }, 120s)) << bot.log();
  const auto m = api.messages(kChat);
  EXPECT_EQ(m[0].text.find("Could not"), std::string::npos) << m[0].text;
  std::printf("transcript: %s\n", m[0].text.c_str());
  EXPECT_GE(m[0].edits, 1);
  EXPECT_EQ(api.rejected_identical_edits(), 0);
  EXPECT_EQ(bot.stop(), 0);
  // The token appears in no log line, though it was in every URL.
  const std::string log = bot.log();
  EXPECT_NE(log.find("event=telegram_delivered"), std::string::npos) << log;
  EXPECT_EQ(log.find(api.token()), std::string::npos);
  EXPECT_EQ(log.find("TEST-token-secret"), std::string::npos);
}

TEST_F(TelegramBot, TextGetsHelpAndCommandsAnswerInTheUsersLanguage) {
  BotInstance bot(api, {});
  ASSERT_TRUE(bot.start()) << bot.log();
  api.push_text(kChat, "hello");
  api.push_text(kChat + 1, "/help", "ru");
  auto photo = FakeBotApi::from(kChat + 2);
  photo["photo"] = nlohmann::json::array({{{"file_id", "p"}, {"width", 1}, {"height", 1}}});
  api.push(photo);
  ASSERT_TRUE(eventually([&] {
    return any_with(api, kChat, "Send me a voice message") && any_with(api, kChat + 1, "Пришлите") &&
           any_with(api, kChat + 2, "I can only transcribe");
  }, 20s)) << bot.log();
  api.push_text(kChat, "/language ru");
  api.push_text(kChat, "/format srt");
  api.push_text(kChat, "/status");
  ASSERT_TRUE(eventually([&] {
    return any_with(api, kChat, "Язык: русский") && any_with(api, kChat, "Формат: srt") &&
           any_with(api, kChat, "нет заданий");
  }, 20s)) << bot.log();
}

TEST_F(TelegramBot, OversizeDeclaredFileIsRefusedNamingTheLimitWithoutADownload) {
  BotInstance bot(api, {"SOROKA_MEMORY_MAX_FILE_SIZE=5MiB"});
  ASSERT_TRUE(bot.start()) << bot.log();
  api.push_media(kChat, "voice", "x", 30'000'000);             // over Telegram's 20 MB
  api.push_media(kChat + 1, "audio", "x", 8ull << 20, "audio/mpeg");  // over memory.max_file_size
  ASSERT_TRUE(eventually([&] {
    return any_with(api, kChat, "Telegram Bot API download") && any_with(api, kChat + 1, "memory.max_file_size");
  }, 20s)) << bot.log();
  EXPECT_TRUE(api.calls("getFile").empty());
}

TEST_F(TelegramBot, InjectedRateLimitsAndServerErrorsLoseNothing) {
  const std::string ogg = voice_note();
  ASSERT_FALSE(ogg.empty());
  BotInstance bot(api, {"SOROKA_TELEGRAM_MODEL=sim-brief"});
  ASSERT_TRUE(bot.start()) << bot.log();
  api.fail_next("getUpdates", 500, 2);
  api.fail_next("sendMessage", 429, 1, 1);
  api.fail_next("getFile", 500, 1);
  api.fail_next("editMessageText", 502, 2);
  for (int i = 0; i < 3; ++i) api.push_media(kChat + i, "voice", ogg);
  ASSERT_TRUE(eventually([&] {
    for (int i = 0; i < 3; ++i)
      if (count_with(api, kChat + i, "simulated transcript") != 1) return false;
    return true;
  }, 120s)) << bot.log();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(api.messages(kChat + i).size(), 1u) << "chat " << i;
}

TEST_F(TelegramBot, KilledMidJobThenRestartedRepliesExactlyOnce) {
  const std::string ogg = voice_note();
  ASSERT_FALSE(ogg.empty());
  BotInstance bot(api, {"SOROKA_TELEGRAM_MODEL=sim-brief"});
  ASSERT_TRUE(bot.start()) << bot.log();
  api.push_media(kChat, "voice", ogg);
  ASSERT_TRUE(eventually([&] { return any_with(api, kChat, "Transcribing"); }, 60s)) << bot.log();
  bot.crash();
  const auto before = api.messages(kChat);
  ASSERT_EQ(count_with(api, kChat, "simulated transcript"), 0);
  ASSERT_TRUE(bot.start()) << bot.log();
  ASSERT_TRUE(eventually([&] { return any_with(api, kChat, "simulated transcript"); }, 90s)) << bot.log();
  std::this_thread::sleep_for(2s);  // time for a second answer, if there were one
  EXPECT_EQ(count_with(api, kChat, "simulated transcript"), 1);
  EXPECT_EQ(api.messages(kChat).size(), before.size());  // the placeholder was edited, no new one
  EXPECT_TRUE(api.documents(kChat).empty());
}

TEST_F(TelegramBot, CancelStopsTheUsersJob) {
  const std::string ogg = voice_note();
  ASSERT_FALSE(ogg.empty());
  BotInstance bot(api, {"SOROKA_TELEGRAM_MODEL=sim-slow"});
  ASSERT_TRUE(bot.start()) << bot.log();
  api.push_media(kChat, "voice", ogg);
  ASSERT_TRUE(eventually([&] { return !api.messages(kChat).empty(); }, 30s)) << bot.log();
  ASSERT_TRUE(eventually([&] { return bot.log().find("event=job_queued") != std::string::npos; }, 30s));
  api.push_text(kChat, "/cancel");
  ASSERT_TRUE(eventually([&] { return any_with(api, kChat, "Cancelled: 1."); }, 30s)) << bot.log();
  EXPECT_TRUE(eventually([&] { return any_with(api, kChat, "Cancelled."); }, 30s)) << bot.log();
  EXPECT_EQ(count_with(api, kChat, "simulated transcript"), 0);
}

TEST_F(TelegramBot, AllowlistRefusesOthers) {
  BotInstance bot(api, {"SOROKA_TELEGRAM_ALLOWED_USERS=777"});
  ASSERT_TRUE(bot.start()) << bot.log();
  api.push_text(555, "/help");
  api.push_text(777, "/help");
  ASSERT_TRUE(eventually([&] { return any_with(api, 555, "private") && any_with(api, 777, "/format"); }, 20s))
      << bot.log();
  EXPECT_FALSE(any_with(api, 555, "/format"));
}

TEST_F(TelegramBot, FormatFileSendsADocumentWithTheOpeningAsCaption) {
  const std::string ogg = voice_note();
  ASSERT_FALSE(ogg.empty());
  BotInstance bot(api, {"SOROKA_TELEGRAM_MODEL=sim-brief"});
  ASSERT_TRUE(bot.start()) << bot.log();
  api.push_text(kChat, "/format file");
  ASSERT_TRUE(eventually([&] { return any_with(api, kChat, "Format: file"); }, 20s)) << bot.log();
  api.push_media(kChat, "document", ogg, 0, "audio/ogg");
  ASSERT_TRUE(eventually([&] { return !api.documents(kChat).empty(); }, 90s)) << bot.log();
  const auto d = api.documents(kChat).front();
  EXPECT_EQ(d.file_name, "transcript.txt");
  EXPECT_NE(d.content.find("simulated transcript"), std::string::npos);
  EXPECT_NE(d.caption.find("simulated"), std::string::npos);
}

TEST_F(TelegramBot, ConflictIsLoggedAndWaitedOutAndABlockedChatIsLeftAlone) {
  BotInstance bot(api, {"SOROKA_TELEGRAM_MODEL=sim-brief"});
  ASSERT_TRUE(bot.start()) << bot.log();
  api.fail_next("getUpdates", 409, 2);
  api.push_text(kChat, "/help");
  ASSERT_TRUE(eventually([&] { return any_with(api, kChat, "/format"); }, 30s)) << bot.log();
  EXPECT_NE(bot.log().find("event=telegram_conflict"), std::string::npos);
  // The user blocked the bot: the placeholder gets 403, and nothing more is fetched for or
  // sent to that chat (a job already running would be kept; its answer is not sent).
  const std::string ogg = voice_note();
  ASSERT_FALSE(ogg.empty());
  api.fail_next("sendMessage", 403);
  api.push_media(kChat + 1, "voice", ogg);
  ASSERT_TRUE(eventually([&] { return bot.log().find("event=telegram_chat_blocked chat=5002") != std::string::npos; }, 30s))
      << bot.log();
  std::this_thread::sleep_for(2s);
  EXPECT_TRUE(api.messages(kChat + 1).empty());
  // Writing again unblocks it.
  api.push_text(kChat + 1, "/help");
  EXPECT_TRUE(eventually([&] { return any_with(api, kChat + 1, "/format"); }, 30s)) << bot.log();
}

// The bot's added latency: the same 5 s voice note, the same model, through the bot (update to
// the transcript's edit) and through the HTTP API (a synchronous POST), three times each.
TEST_F(TelegramBot, AddedLatencyAgainstTheHttpApiIsSmall) {
  const std::string ogg = voice_note();
  ASSERT_FALSE(ogg.empty());
  using clock = std::chrono::steady_clock;
  auto ms = [](clock::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  long long http_ms = 0, bot_ms = 0;
  {
    ServeInstance serve;
    for (int i = 0; i < 3; ++i) {
      httplib::MultipartFormDataItems items = {{"file", ogg, "v.ogg", "audio/ogg"}, {"model", "sim-brief", "", ""}};
      const auto t0 = clock::now();
      auto r = serve.client().Post("/v1/audio/transcriptions", items);
      ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
      http_ms += ms(clock::now() - t0);
    }
  }
  BotInstance bot(api, {"SOROKA_TELEGRAM_MODEL=sim-brief", "SOROKA_LOG_LEVEL=info"});
  ASSERT_TRUE(bot.start()) << bot.log();
  for (int i = 0; i < 3; ++i) {
    const auto t0 = clock::now();
    api.push_media(kChat + i, "voice", ogg);
    ASSERT_TRUE(eventually([&] { return any_with(api, kChat + i, "simulated transcript"); }, 60s)) << bot.log();
    bot_ms += ms(clock::now() - t0);
  }
  std::printf("mean latency: http %lld ms, bot %lld ms, added %lld ms\n", http_ms / 3, bot_ms / 3,
              (bot_ms - http_ms) / 3);
  EXPECT_LT(bot_ms / 3, http_ms / 3 + 2000);
}

// Resident memory of a process, from /proc/PID/status (0 when gone).
std::uint64_t rss_kib(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  std::uint64_t v = 0;
  while (f >> key)
    if (key == "VmRSS:" && f >> v) return v;
  return 0;
}

TEST_F(TelegramBot, TwelveHundredUpdatesAtOnceAreEachAnsweredOnceWithBoundedMemory) {
  BotInstance bot(api, {"SOROKA_LOG_LEVEL=info"});
  ASSERT_TRUE(bot.start()) << bot.log();
  const pid_t pid = bot.pid();
  const auto idle = rss_kib(pid);
  constexpr int kUpdates = 1200;  // beyond the in-memory queue's 1000
  for (int i = 0; i < kUpdates; ++i) api.push_text(10000 + i, "hello " + std::to_string(i));
  std::uint64_t peak = idle;
  ASSERT_TRUE(eventually([&] {
    peak = std::max(peak, rss_kib(pid));
    return api.calls("sendMessage").size() >= static_cast<std::size_t>(kUpdates);
  }, 120s)) << api.calls("sendMessage").size();
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(api.calls("sendMessage").size(), static_cast<std::size_t>(kUpdates));  // once each
  std::printf("bot rss idle %llu KiB, peak with %d updates %llu KiB\n",
              static_cast<unsigned long long>(idle), kUpdates, static_cast<unsigned long long>(peak));
  EXPECT_LT(peak - idle, 64u * 1024);  // the queue holds ids, the store the rest
}

TEST_F(TelegramBot, ServeStartsTheBotBesideTheHttpApi) {
  ServeInstance serve({"SOROKA_TELEGRAM_TOKEN=" + api.token(), "SOROKA_TELEGRAM_API_URL=" + api.url()});
  EXPECT_TRUE(eventually([&] { return !api.calls("getUpdates").empty(); }, 20s));
  EXPECT_FALSE(api.calls("getMe").empty());
  api.push_text(kChat, "/start");
  EXPECT_TRUE(eventually([&] { return any_with(api, kChat, "Send me a voice message"); }, 20s));
  auto r = serve.client().Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

}  // namespace
}  // namespace soroka::test

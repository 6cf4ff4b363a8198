// The Telegram bot's parts: answer parsing, the error policy table, update parsing, commands,
// languages, its store, and the Bot API client's bounds against a hostile server.
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "service/fake_bot_api.h"
#include "service/serve_instance.h"
#include "telegram/bot_api.h"
#include "telegram/bot_store.h"
#include "telegram/engine_choice.h"
#include "telegram/retry_policy.h"
#include "telegram/sender.h"
#include "telegram/settings_keyboard.h"
#include "telegram/webhook.h"
#include "jobs/sqlite_db.h"
#include <fmt/format.h>
#include "telegram/texts.h"
#include "telegram/update.h"
#include "config/settings.h"

namespace soroka::telegram {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

TEST(TelegramAnswer, OkErrorAndMalformed) {
  auto ok = parse_answer(200, R"({"ok":true,"result":{"id":1}})");
  ASSERT_TRUE(ok);
  EXPECT_EQ((*ok)["id"], 1);
  auto e = parse_answer(429, R"({"ok":false,"error_code":429,"description":"Too Many Requests","parameters":{"retry_after":7}})");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().http_status, 429);
  EXPECT_EQ(e.error().retry_after_s, 7);
  EXPECT_EQ(e.error().description, "Too Many Requests");
  for (const char* bad : {"", "<html>502</html>", "[1,2]", R"({"ok":"yes"})", R"({"ok":true})",
                          R"({"ok":false,"error_code":"x","parameters":{"retry_after":"soon"}})"}) {
    auto r = parse_answer(200, bad);
    EXPECT_FALSE(r) << bad;
  }
  EXPECT_TRUE(parse_answer(200, "<html>").error().malformed);
}

TEST(TelegramRetryPolicy, Table) {
  auto err = [](int status, std::string d = "", int retry = 0) {
    ApiError e;
    e.http_status = status;
    e.description = std::move(d);
    e.retry_after_s = retry;
    return e;
  };
  struct Row {
    ApiError e;
    Action action;
  } rows[] = {
      {err(429, "", 7), Action::retry_after},
      {err(500), Action::backoff},
      {err(502), Action::backoff},
      {err(0), Action::backoff},  // timeout, refused
      {err(409, "Conflict"), Action::backoff},
      {err(400, "Bad Request: message is not modified: same"), Action::ignore},
      {err(400, "Bad Request: chat not found"), Action::give_up},
      {err(401, "Unauthorized"), Action::give_up},
      {err(403, "Forbidden: bot was blocked by the user"), Action::chat_blocked},
  };
  for (const auto& r : rows) EXPECT_EQ(decide(r.e, 0, 0.5).action, r.action) << r.e.summary();
  EXPECT_EQ(decide(err(429, "", 7), 0, 0).wait, 7s);
  EXPECT_EQ(decide(err(429), 0, 0).wait, 1s);  // no retry_after: one second
  // Exponential, jittered into [wait/2, wait), capped.
  BackoffParams b{100ms, 1000ms};
  EXPECT_EQ(decide(err(500), 0, 0.0, b).wait, 50ms);
  EXPECT_EQ(decide(err(500), 2, 0.0, b).wait, 200ms);
  EXPECT_EQ(decide(err(500), 30, 0.999, b).wait.count(), 999);
  EXPECT_LE(decide(err(500), 1000, 1.0, b).wait, 1000ms);
}

json voice_update(json extra = json::object()) {
  json u = {{"update_id", 7},
            {"message",
             {{"message_id", 3},
              {"chat", {{"id", -100}}},
              {"from", {{"id", 9}, {"language_code", "ru"}}},
              {"voice", {{"file_id", "F"}, {"file_size", 1234}, {"duration", 5}, {"mime_type", "audio/ogg"}}}}}};
  u["message"].update(extra);
  return u;
}

TEST(TelegramUpdate, MediaKinds) {
  auto v = parse_update(voice_update());
  ASSERT_TRUE(v);
  EXPECT_EQ(v->content, Content::media);
  EXPECT_EQ(v->chat_id, -100);
  EXPECT_EQ(v->user_id, 9);
  EXPECT_EQ(v->language_code, "ru");
  EXPECT_EQ(v->media->kind, MediaKind::voice);
  EXPECT_EQ(v->media->file_size, 1234u);
  json doc = {{"update_id", 8},
              {"message", {{"chat", {{"id", 1}}}, {"document", {{"file_id", "D"}, {"mime_type", "video/mp4"}, {"file_name", "a.mp4"}}}}}};
  EXPECT_EQ(parse_update(doc)->content, Content::media);
  doc["message"]["document"]["mime_type"] = "application/pdf";
  EXPECT_EQ(parse_update(doc)->content, Content::unsupported);
  for (const char* k : {"audio", "video", "video_note"}) {
    json m = {{"update_id", 9}, {"message", {{"chat", {{"id", 1}}}, {k, {{"file_id", "X"}}}}}};
    auto in = parse_update(m);
    ASSERT_TRUE(in && in->media) << k;
    EXPECT_STREQ(to_string(in->media->kind), k);
  }
}

TEST(TelegramUpdate, TextCommandsOthersAndHostileShapes) {
  json t = {{"update_id", 1}, {"message", {{"chat", {{"id", 1}}}, {"text", std::string(100000, 'a')}}}};
  auto in = parse_update(t);
  EXPECT_EQ(in->content, Content::text);
  EXPECT_EQ(in->text.size(), 4096u);  // bounded
  t["message"]["text"] = "/format srt";
  EXPECT_EQ(parse_update(t)->content, Content::command);
  EXPECT_EQ(parse_update(json{{"update_id", 2}, {"edited_message", json::object()}})->content, Content::none);
  EXPECT_FALSE(parse_update(json{{"message", json::object()}}));
  EXPECT_FALSE(parse_update(json{{"update_id", "1"}}));
  EXPECT_FALSE(parse_update(json::array()));
  // Wrong types everywhere: parsed as far as they go, never a throw.
  json hostile = {{"update_id", 3}, {"message", {{"chat", {{"id", "x"}}}, {"voice", 5}}}};
  EXPECT_EQ(parse_update(hostile)->content, Content::none);
  hostile = voice_update({{"voice", {{"file_id", 5}, {"file_size", "big"}}}});
  EXPECT_EQ(parse_update(hostile)->content, Content::unsupported);
  hostile = voice_update({{"voice", {{"file_id", "F"}, {"file_size", -5}}}});
  EXPECT_EQ(parse_update(hostile)->media->file_size, 0u);
}

TEST(TelegramCommand, Parse) {
  EXPECT_EQ(parse_command("/help").name, "help");
  EXPECT_EQ(parse_command("/Format@SorokaBot  srt ").name, "format");
  EXPECT_EQ(parse_command("/Format@SorokaBot  srt ").arg, "srt");
  EXPECT_EQ(parse_command("hello").name, "");
}

TEST(TelegramTexts, LanguageChoice) {
  EXPECT_EQ(pick_lang("", "ru-RU"), Lang::ru);
  EXPECT_EQ(pick_lang("", "uk"), Lang::ru);
  EXPECT_EQ(pick_lang("", "de"), Lang::en);
  EXPECT_EQ(pick_lang("en", "ru"), Lang::en);
  EXPECT_EQ(pick_lang("ru", "en"), Lang::ru);
  for (auto t : {Text::help, Text::too_big, Text::busy_queued})
    EXPECT_NE(text(Lang::en, t), text(Lang::ru, t));
  EXPECT_TRUE(json::accept(commands_json(Lang::ru)));
  EXPECT_TRUE(json::accept(commands_json(Lang::en)));
}

// The command menu names every command a user has (/engine included), in both languages, each
// with a description of its own language.
TEST(TelegramTexts, CommandMenuListsEveryUserCommandInEachLanguage) {
  const std::vector<std::string> expected = {"help", "settings", "format", "language", "engine", "status", "cancel"};
  const json en = json::parse(commands_json(Lang::en));
  const json ru = json::parse(commands_json(Lang::ru));
  ASSERT_EQ(en.size(), expected.size());
  ASSERT_EQ(ru.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(en[i]["command"], expected[i]);
    EXPECT_EQ(ru[i]["command"], expected[i]);
    const std::string en_text = en[i]["description"], ru_text = ru[i]["description"];
    EXPECT_FALSE(en_text.empty()) << expected[i];
    EXPECT_NE(en_text, ru_text) << expected[i];  // translated, not copied
  }
  EXPECT_EQ(en[4]["description"], "Speech engine, when there is a choice");
  EXPECT_EQ(ru[4]["description"], "Движок распознавания, если есть выбор");
}

// The value in force of a fixed row: the chat's choice, else the default.
TEST(TelegramSettingsKeyboard, PrefValueIsTheChoiceElseTheDefault) {
  ChatPrefs none;
  EXPECT_EQ(pref_value(none, Pref::lang, Lang::ru), "ru");  // the language in use
  EXPECT_EQ(pref_value(none, Pref::format, Lang::en), "text");
  EXPECT_EQ(pref_value(none, Pref::speakers, Lang::en), "off");
  ChatPrefs set;
  set.lang = "en";
  set.format = "vtt";
  set.speakers = "on";
  EXPECT_EQ(pref_value(set, Pref::lang, Lang::ru), "en");
  EXPECT_EQ(pref_value(set, Pref::format, Lang::en), "vtt");
  EXPECT_EQ(pref_value(set, Pref::speakers, Lang::en), "on");
}

TEST(TelegramStore, TakesOnceKeepsOffsetAndPrefsAcrossReopen) {
  const std::string dir = test::make_temp_dir("soroka-tgstore-");
  const std::string path = dir + "/telegram.sqlite";
  {
    auto s = BotStore::open(path);
    ASSERT_TRUE(s);
    EXPECT_EQ(*(*s)->offset(), 0);
    ASSERT_TRUE((*s)->take({{10, 1, "{}", "", 0, 0, false}, {11, 2, "{}", "", 0, 0, false}}, 12));
    ASSERT_TRUE((*s)->take({{10, 1, "{\"again\":1}", "", 0, 0, false}}, 11));  // re-delivered: ignored
    EXPECT_EQ(*(*s)->offset(), 12);  // never goes back
    ASSERT_TRUE((*s)->set_reply(10, 77));
    ASSERT_TRUE((*s)->set_job(10, "JOB"));
    ASSERT_TRUE((*s)->set_document(10, 88));
    ASSERT_TRUE((*s)->finish(11));
    ASSERT_TRUE((*s)->set_lang(1, "ru"));
    ASSERT_TRUE((*s)->set_format(1, "srt"));
  }
  auto s = BotStore::open(path);
  ASSERT_TRUE(s);
  EXPECT_EQ(*(*s)->offset(), 12);
  auto p = (*s)->pending(100);
  ASSERT_TRUE(p);
  ASSERT_EQ(p->size(), 1u);
  EXPECT_EQ((*p)[0].payload, "{}");
  EXPECT_EQ((*p)[0].reply_id, 77);
  EXPECT_EQ((*p)[0].job_id, "JOB");
  EXPECT_EQ((*p)[0].document_id, 88);
  EXPECT_EQ((*s)->active(1)->size(), 1u);
  auto prefs = (*s)->prefs(1);
  EXPECT_EQ(prefs->lang, "ru");
  EXPECT_EQ(prefs->format, "srt");
  EXPECT_FALSE(prefs->blocked);
  ASSERT_TRUE((*s)->set_pref(1, Pref::format, "vtt"));
  ASSERT_TRUE((*s)->set_pref(2, Pref::lang, "en"));
  EXPECT_EQ((*s)->prefs(1)->format, "vtt");
  EXPECT_EQ((*s)->prefs(1)->lang, "ru");
  EXPECT_EQ((*s)->prefs(2)->lang, "en");
  EXPECT_EQ((*s)->prefs(1)->speakers, "");
  ASSERT_TRUE((*s)->set_pref(1, Pref::speakers, "on"));
  EXPECT_EQ((*s)->prefs(1)->speakers, "on");
  EXPECT_EQ((*s)->prefs(1)->format, "vtt");
  ASSERT_TRUE((*s)->set_pref(1, Pref::engine, "whisper"));
  EXPECT_EQ((*s)->prefs(1)->engine, "whisper");
  EXPECT_EQ((*s)->prefs(1)->speakers, "on");
  EXPECT_EQ(*(*s)->clear_engine(1, "other"), false);  // not what is stored: kept
  EXPECT_EQ((*s)->prefs(1)->engine, "whisper");
  EXPECT_EQ(*(*s)->clear_engine(1, "whisper"), true);
  EXPECT_EQ(*(*s)->clear_engine(1, "whisper"), false);  // the second caller is not told
  EXPECT_EQ((*s)->prefs(1)->engine, "");
  EXPECT_EQ(*(*s)->schema_version(), BotStore::kSchemaVersion);
  EXPECT_EQ(*(*s)->purge(std::numeric_limits<std::int64_t>::max()), 1);  // the done one
  std::filesystem::remove_all(dir);
}

// A store file of the first release (no versions, no document_id, speakers or engine) is
// upgraded in place at open: every column added, its updates and chats kept, the version set;
// reopening changes nothing. A file a newer release made keeps its higher version.
TEST(TelegramStore, AFirstReleaseFileIsUpgradedInPlaceKeepingItsChats) {
  const std::string dir = test::make_temp_dir("soroka-tgstore-");
  const std::string path = dir + "/telegram.sqlite";
  {
    auto c = jobs::sqlite::Connection::open(path, 1s);
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->exec("CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
                        "CREATE TABLE updates(update_id INTEGER PRIMARY KEY, chat_id INTEGER NOT NULL, "
                        "payload TEXT NOT NULL, job_id TEXT, reply_id INTEGER NOT NULL DEFAULT 0, "
                        "done INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL);"
                        "CREATE TABLE chats(chat_id INTEGER PRIMARY KEY, lang TEXT NOT NULL DEFAULT '', "
                        "format TEXT NOT NULL DEFAULT '', blocked INTEGER NOT NULL DEFAULT 0);"
                        "INSERT INTO chats VALUES(7, 'ru', 'srt', 0);"
                        "INSERT INTO updates VALUES(5, 1, '{}', 'J', 9, 0, 0);"
                        "INSERT INTO meta VALUES('offset', 42);"));
  }
  for (int round = 0; round < 2; ++round) {
    auto s = BotStore::open(path);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(*(*s)->schema_version(), BotStore::kSchemaVersion);
    EXPECT_EQ(*(*s)->offset(), 42);
    auto p = (*s)->prefs(7);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->lang, "ru");
    EXPECT_EQ(p->format, "srt");
    EXPECT_EQ(p->speakers, "");
    EXPECT_EQ(p->engine, round == 0 ? "" : "whisper");
    auto row = (*s)->get(5);
    ASSERT_TRUE(row && *row);
    EXPECT_EQ((*row)->reply_id, 9);
    EXPECT_EQ((*row)->document_id, round == 0 ? 0 : 3);
    ASSERT_TRUE((*s)->set_document(5, 3));
    ASSERT_TRUE((*s)->set_pref(7, Pref::engine, "whisper"));
    EXPECT_EQ((*s)->prefs(7)->lang, "ru");
  }
  {
    auto c = jobs::sqlite::Connection::open(path, 1s);
    ASSERT_TRUE(c && c->exec("PRAGMA user_version = 9"));
  }
  auto s = BotStore::open(path);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(*(*s)->schema_version(), 9);
  EXPECT_EQ((*s)->prefs(7)->engine, "whisper");
  std::filesystem::remove_all(dir);
}

// Opening a file already at the current version reads its version and writes nothing: it
// does not wait for the write lock another connection holds (the busy timeout is 5 s).
TEST(TelegramStore, OpeningACurrentFileTakesNoWriteLock) {
  const std::string dir = test::make_temp_dir("soroka-tgstore-");
  const std::string path = dir + "/telegram.sqlite";
  ASSERT_TRUE(BotStore::open(path));
  auto writer = jobs::sqlite::Connection::open(path, 1s);
  ASSERT_TRUE(writer);
  auto tx = jobs::sqlite::Transaction::begin(*writer);
  ASSERT_TRUE(tx);
  const auto t0 = std::chrono::steady_clock::now();
  auto s = BotStore::open(path);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_EQ(*(*s)->schema_version(), BotStore::kSchemaVersion);
  std::filesystem::remove_all(dir);
}

TEST(TelegramTexts, PlacesInLine) {
  struct Row {
    std::int64_t n;
    const char* en;
  } rows[] = {{1, "1st"}, {2, "2nd"}, {3, "3rd"}, {4, "4th"}, {11, "11th"}, {12, "12th"},
              {13, "13th"}, {21, "21st"}, {22, "22nd"}, {101, "101st"}, {111, "111th"}};
  for (const auto& r : rows) {
    EXPECT_EQ(place_text(Lang::en, r.n), r.en);
    EXPECT_EQ(place_text(Lang::ru, r.n), std::to_string(r.n));
  }
  EXPECT_EQ(fmt::format(fmt::runtime(text(Lang::en, Text::queued_place)), place_text(Lang::en, 3)),
            "Queued, 3rd in line…");
}

TEST(TelegramSettingsKeyboard, RowsTickTheChoiceInForceAndOnlyItsOwnDataParses) {
  const EngineMenu menu = engine_menu(Settings{});  // pocketsphinx only: no engine row
  auto settings_keyboard = [&](const ChatPrefs& p, Lang l) { return telegram::settings_keyboard(p, l, menu); };
  auto settings_text = [&](const ChatPrefs& p, Lang l) { return telegram::settings_text(p, l, menu); };
  auto parse_choice = [&](std::string_view d) { return telegram::parse_choice(d, menu); };
  ChatPrefs p;
  p.format = "srt";
  const json kb = settings_keyboard(p, Lang::en);
  ASSERT_EQ(kb["inline_keyboard"].size(), 3u);
  const json& lang_row = kb["inline_keyboard"][0];
  const json& fmt_row = kb["inline_keyboard"][1];
  const json& spk_row = kb["inline_keyboard"][2];
  ASSERT_EQ(spk_row.size(), 2u);
  EXPECT_EQ(spk_row[0]["text"], "✓ Off");  // no choice: speakers off
  EXPECT_EQ(spk_row[1]["text"], "On");
  ASSERT_EQ(lang_row.size(), 2u);
  ASSERT_EQ(fmt_row.size(), 4u);
  EXPECT_EQ(lang_row[0]["text"], "✓ English");  // no choice: the language in use
  EXPECT_EQ(lang_row[1]["text"], "Русский");
  EXPECT_EQ(fmt_row[1]["text"], "✓ SRT");
  EXPECT_EQ(fmt_row[0]["text"], "Text");
  for (const auto& row : kb["inline_keyboard"])
    for (const auto& b : row) {
      const std::string data = b["callback_data"];
      EXPECT_LE(data.size(), 64u);
      EXPECT_TRUE(parse_choice(data)) << data;  // every button's data comes back
    }
  EXPECT_EQ(settings_keyboard(p, Lang::ru)["inline_keyboard"][0][1]["text"], "✓ Русский");
  EXPECT_EQ(settings_text(p, Lang::en),
            "Settings (tap to change):\nLanguage: English\nFormat: SRT\nSpeakers: Off");
  ChatPrefs on = p;
  on.speakers = "on";
  EXPECT_EQ(settings_keyboard(on, Lang::ru)["inline_keyboard"][2][1]["text"], "✓ Вкл.");
  auto sp = parse_choice(choice_data(Pref::speakers, "on"));
  ASSERT_TRUE(sp);
  EXPECT_EQ(sp->pref, Pref::speakers);
  EXPECT_NE(settings_text(p, Lang::ru).find("Формат: SRT"), std::string::npos);
  auto c = parse_choice(choice_data(Pref::format, "vtt"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->pref, Pref::format);
  EXPECT_EQ(c->value, "vtt");
  for (const char* bad : {"", "p:", "p:fmt", "p:fmt:mp3", "p:lang:de", "p:x:en", "lang:en", "p:fmt:srt:x",
                          "p:lang:en\n", "p:spk:yes"})
    EXPECT_FALSE(parse_choice(bad)) << bad;
  EXPECT_FALSE(parse_choice(choice_data(Pref::engine, "pocketsphinx")));  // no choice offered
}

// Settings with the remote engines `names` (languages en and ru) and the simulation switch.
Settings with_engines(std::vector<std::string> names, bool simulation = false) {
  Settings s;
  s.engine.simulation = simulation;
  for (auto& n : names) {
    RemoteEngineSettings e;
    e.name = std::move(n);
    e.urls = {"http://127.0.0.1:1/v1"};
    e.languages = {"en", "ru"};
    s.engine.remote.push_back(std::move(e));
  }
  return s;
}

std::vector<std::string> option_names(const EngineMenu& m) {
  std::vector<std::string> out;
  for (const auto& o : m.options) out.push_back(o.name);
  return out;
}

// The menu comes from the running settings: the bot's default first, aliases left out,
// simulations only when switched on, each [engines.NAME] in order.
TEST(TelegramEngineChoice, MenuFromSettings) {
  using V = std::vector<std::string>;
  struct Row {
    Settings s;
    std::string model;  // telegram.model
    V want;
  } rows[] = {
      {Settings{}, "pocketsphinx", V{"pocketsphinx"}},
      {Settings{}, "whisper-1", V{"pocketsphinx"}},  // the alias is pocketsphinx
      {with_engines({"whisper"}), "pocketsphinx", V{"pocketsphinx", "whisper"}},
      {with_engines({"whisper", "groq"}), "groq", V{"groq", "pocketsphinx", "whisper"}},
      {with_engines({"whisper"}, true), "pocketsphinx",
       V{"pocketsphinx", "sim-tiny", "sim-base", "sim-small", "sim-medium", "sim-slow", "sim-brief", "sim-leak",
         "sim-verbose", "whisper"}},
      {with_engines({}, false), "sim-tiny", V{"sim-tiny", "pocketsphinx"}},  // a default not offered otherwise
  };
  for (auto& r : rows) {
    r.s.telegram.model = r.model;
    const EngineMenu m = engine_menu(r.s);
    EXPECT_EQ(option_names(m), r.want) << r.model;
    EXPECT_EQ(m.offered(), r.want.size() > 1) << r.model;
  }
  const EngineMenu m = engine_menu(with_engines({"whisper"}));
  EXPECT_EQ(m.find("whisper")->languages, (V{"en", "ru"}));
  EXPECT_EQ(m.find("pocketsphinx")->languages, (V{"en"}));
}

TEST(TelegramEngineChoice, InForceStaleAndSpeechLanguage) {
  const EngineMenu m = engine_menu(with_engines({"whisper"}));
  struct Row {
    const char* stored;
    const char* in_force;
    bool stale;
  } rows[] = {{"", "pocketsphinx", false},
              {"whisper", "whisper", false},
              {"pocketsphinx", "pocketsphinx", false},
              {"gone", "pocketsphinx", true},
              {"whisper-1", "pocketsphinx", true},  // an alias is not a stored choice
              {"sim-tiny", "pocketsphinx", true}};  // simulations switched off since
  for (const auto& r : rows) {
    const auto e = engine_in_force(m, r.stored);
    ASSERT_NE(e.option, nullptr);
    EXPECT_EQ(e.option->name, r.in_force) << r.stored;
    EXPECT_EQ(e.stale, r.stale) << r.stored;
  }
  struct Lang_ {
    const char* chat;
    std::vector<std::string> langs;
    const char* sent;
  } langs[] = {{"ru", {"en", "ru"}, "ru"}, {"en", {"en", "ru"}, "en"}, {"ru", {"en"}, "en"},
               {"en", {"de", "fr"}, "de"}, {"en", {}, "en"}};
  for (const auto& l : langs) EXPECT_EQ(speech_language(l.chat, {"x", l.langs}), l.sent) << l.chat;
}

// Engine names of any allowed length (64 at most, letters, digits, '-', '_', '.'): every
// button's callback_data within Telegram's 64 bytes and parsed back to its engine; a long
// name's hash of an engine not configured parses to nothing.
TEST(TelegramEngineChoice, CallbackDataBoundedForTheLongestNames) {
  const std::string n58(58, 'a'), n59 = std::string(58, 'b') + ".", n64 = std::string(63, 'Z') + "_",
                    other64 = std::string(63, 'Z') + "-";
  const EngineMenu m = engine_menu(with_engines({n58, n59, n64, "w.1-x_y"}));
  EXPECT_EQ(choice_data(Pref::engine, n58), "p:eng:" + n58);  // fits: sent as it is
  EXPECT_EQ(choice_data(Pref::engine, n58).size(), 64u);
  EXPECT_EQ(choice_data(Pref::engine, n59).size(), 6u + 17u);  // "#" + 16 hex digits
  EXPECT_NE(choice_data(Pref::engine, n64), choice_data(Pref::engine, other64));
  const json kb = settings_keyboard(ChatPrefs{}, Lang::en, m);
  int engines = 0;
  for (const auto& row : kb["inline_keyboard"])
    for (const auto& b : row) {
      const std::string data = b["callback_data"];
      EXPECT_LE(data.size(), kCallbackDataMax) << data;
      auto c = parse_choice(data, m);
      ASSERT_TRUE(c) << data;
      if (c->pref != Pref::engine) continue;
      ++engines;
      const std::string shown = b["text"];
      EXPECT_TRUE(shown == c->value || shown == "✓ " + c->value) << shown << " vs " << c->value;
    }
  EXPECT_EQ(engines, 5);
  for (const std::string& bad : std::vector<std::string>{"p:eng:", "p:eng:gone", "p:eng:#0000000000000000", "p:eng:#",
                                "p:eng:" + choice_data(Pref::engine, other64).substr(6), "p:eng:whisper-1",
                                "p:eng:pocketsphinx:x", "p:eng:POCKETSPHINX"})
    EXPECT_FALSE(parse_choice(bad, m)) << bad;
}

// The engine row: absent with one engine; ticked where the choice is; at most
// kMaxEngineButtons buttons, kEnginesPerRow a row, so the keyboard stays within Telegram's
// 100 buttons whatever the number of engines configured.
TEST(TelegramEngineChoice, KeyboardRowsTicksAndBound) {
  std::vector<std::string> many;
  for (int i = 0; i < 200; ++i) many.push_back(fmt::format("engine-{:03}-{}", i, std::string(50, 'x')));
  const EngineMenu big = engine_menu(with_engines(many));
  ChatPrefs p;
  p.engine = many[5];
  const json kb = settings_keyboard(p, Lang::en, big);
  std::size_t buttons = 0, engines = 0, ticked = 0;
  for (std::size_t r = 0; r < kb["inline_keyboard"].size(); ++r) {
    const auto& row = kb["inline_keyboard"][r];
    buttons += row.size();
    if (r < 3) continue;
    EXPECT_LE(row.size(), kEnginesPerRow);
    engines += row.size();
    for (const auto& b : row) ticked += b["text"].get<std::string>().starts_with("✓ ");
  }
  EXPECT_EQ(engines, kMaxEngineButtons);
  EXPECT_LE(buttons, 100u);
  EXPECT_EQ(ticked, 1u);
  EXPECT_EQ(kb["inline_keyboard"][3 + 6 / kEnginesPerRow][6 % kEnginesPerRow]["text"], "✓ " + many[5]);
  EXPECT_LT(kb.dump().size(), 10'000u);

  const EngineMenu m = engine_menu(with_engines({"whisper"}));
  ChatPrefs gone;
  gone.engine = "removed";  // stale: the default is ticked and named
  const json kb2 = settings_keyboard(gone, Lang::en, m);
  ASSERT_EQ(kb2["inline_keyboard"].size(), 4u);
  EXPECT_EQ(kb2["inline_keyboard"][3][0]["text"], "✓ pocketsphinx");
  EXPECT_EQ(kb2["inline_keyboard"][3][1]["text"], "whisper");
  EXPECT_NE(settings_text(gone, Lang::en, m).find("\nEngine: pocketsphinx (en)"), std::string::npos);
}

// A chat language the engine does not transcribe is said in /settings, with what is sent.
TEST(TelegramEngineChoice, SettingsTextNotesALanguageTheEngineLacks) {
  const EngineMenu m = engine_menu(with_engines({"whisper"}));
  ChatPrefs ru;
  ru.lang = "ru";
  EXPECT_EQ(settings_text(ru, Lang::ru, m),
            "Настройки (нажмите, чтобы изменить):\nЯзык: Русский\nФормат: Текст\nСпикеры: Выкл.\n"
            "Движок: pocketsphinx (en)\nПримечание: pocketsphinx не распознаёт «ru»; записи отправляются как «en».");
  EXPECT_EQ(language_note(ru, Lang::en, *m.find("pocketsphinx")),
            "Note: pocketsphinx does not transcribe \"ru\"; your recordings are sent as \"en\".");  // /engine's
  EXPECT_EQ(language_note(ru, Lang::en, *m.find("whisper")), "");
  ru.engine = "whisper";
  EXPECT_EQ(settings_text(ru, Lang::ru, m).find("Примечание"), std::string::npos);
  EXPECT_NE(settings_text(ru, Lang::ru, m).find("Движок: whisper (en, ru)"), std::string::npos);
  ChatPrefs en;
  EXPECT_EQ(settings_text(en, Lang::en, m),
            "Settings (tap to change):\nLanguage: English\nFormat: Text\nSpeakers: Off\nEngine: pocketsphinx (en)");
}

TEST(TelegramUpdate, CallbackQueries) {
  const json cb = {{"update_id", 7},
                   {"callback_query",
                    {{"id", "c1"},
                     {"from", {{"id", 9}, {"language_code", "ru"}}},
                     {"message", {{"message_id", 44}, {"chat", {{"id", 9}}}}},
                     {"data", "p:fmt:srt"}}}};
  auto in = parse_update(cb);
  ASSERT_TRUE(in);
  EXPECT_EQ(in->content, Content::callback);
  EXPECT_EQ(in->chat_id, 9);
  EXPECT_EQ(in->user_id, 9);
  EXPECT_EQ(in->message_id, 44);
  EXPECT_EQ(in->callback_id, "c1");
  EXPECT_EQ(in->callback_data, "p:fmt:srt");
  EXPECT_EQ(in->language_code, "ru");
  json no_message = cb;
  no_message["callback_query"].erase("message");  // an inline-mode press: nothing to edit
  EXPECT_EQ(parse_update(no_message)->content, Content::none);
  json long_data = cb;
  long_data["callback_query"]["data"] = std::string(5000, 'x');
  EXPECT_EQ(parse_update(long_data)->callback_data.size(), 64u);
  json bad = cb;
  bad["callback_query"]["id"] = 5;
  EXPECT_EQ(parse_update(bad)->content, Content::none);
}

TEST(TelegramWebhook, SecretPathAndSecretRules) {
  struct Match {
    const char* got;
    const char* want;
    bool ok;
  } matches[] = {{"abc", "abc", true}, {"abd", "abc", false}, {"ab", "abc", false}, {"abcd", "abc", false},
                 {"", "abc", false},   {"", "", false},         {"ABC", "abc", false}};
  for (const auto& m : matches) EXPECT_EQ(secret_matches(m.got, m.want), m.ok) << m.got << " vs " << m.want;
  struct Path {
    const char* url;
    const char* path;  // "" : refused
  } paths[] = {{"https://bot.example.org/tg/hook", "/tg/hook"},
               {"https://bot.example.org:8443/a_b-c.d?x=1", "/a_b-c.d"},
               {"https://bot.example.org/h#frag", "/h"},
               {"https://bot.example.org", ""},
               {"https://bot.example.org/", ""},
               {"http://bot.example.org/tg", ""},
               {"https://bot.example.org/{id}", ""},
               {"https://bot.example.org/a%20b", ""}};
  for (const auto& p : paths) {
    auto r = webhook_path(p.url);
    if (*p.path) {
      ASSERT_TRUE(r) << p.url;
      EXPECT_EQ(*r, p.path);
    } else {
      EXPECT_FALSE(r) << p.url;
    }
  }
  Settings s;
  EXPECT_FALSE(read_webhook_secret(s));  // none set
  s.telegram.webhook_secret = " ok_Secret-9\n";
  EXPECT_EQ(*read_webhook_secret(s), "ok_Secret-9");
  for (std::string bad : {std::string("has space"), std::string("semi;colon"), std::string(257, 'a')}) {
    s.telegram.webhook_secret = bad;
    auto r = read_webhook_secret(s);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message.find(bad), std::string::npos);  // never the secret itself
  }
}

// A server that answers every request with `body` (chunked when `chunked`).
struct HostileServer {
  httplib::Server server;
  std::thread thread;
  int port = 0;
  HostileServer(std::string body, bool chunked, std::chrono::milliseconds delay = {}) {
    auto handler = [body, chunked, delay](const httplib::Request&, httplib::Response& res) {
      std::this_thread::sleep_for(delay);
      if (!chunked) return res.set_content(body, "application/json");
      res.set_chunked_content_provider("application/json", [body](std::size_t off, httplib::DataSink& sink) {
        if (off >= body.size()) {
          sink.done();
          return true;
        }
        return sink.write(body.data() + off, std::min<std::size_t>(65536, body.size() - off));
      });
    };
    server.Post(R"(/.*)", handler);
    server.Get(R"(/.*)", handler);
    port = server.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { server.listen_after_bind(); });
    while (!server.is_running()) std::this_thread::sleep_for(5ms);
  }
  ~HostileServer() {
    server.stop();
    thread.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

TEST(TelegramClient, OversizeAnswersAreRefusedDeclaredOrNot) {
  const std::string huge = R"({"ok":true,"result":")" + std::string(64u << 20, 'x') + "\"}";
  for (bool chunked : {false, true}) {
    HostileServer hostile(huge, chunked);
    ApiParams p;
    p.api_url = hostile.url();
    p.token = "1:SECRET";
    p.max_answer_bytes = 1u << 20;
    BotApi api(p);
    auto r = api.call("getMe", json::object());
    ASSERT_FALSE(r) << "chunked=" << chunked;
    EXPECT_TRUE(r.error().malformed);
    EXPECT_NE(r.error().description.find("exceeds"), std::string::npos);
  }
}

TEST(TelegramClient, ASlowServerIsATimeoutNotAHang) {
  HostileServer slow(R"({"ok":true,"result":true})", false, 3s);
  ApiParams p;
  p.api_url = slow.url();
  p.token = "1:SECRET";
  p.total_timeout = 300ms;
  BotApi api(p);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = api.call("getMe", json::object());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 0);  // no answer: backoff and retry
  EXPECT_EQ(decide(r.error(), 0, 0).action, Action::backoff);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

TEST(TelegramClient, DownloadsStreamToAPrivateFileWithinTheirBound) {
  const std::string dir = test::make_temp_dir("soroka-tgdl-");
  test::FakeBotApi fake;
  const std::string id = fake.add_file(std::string(300000, 'a'));
  ApiParams p;
  p.api_url = fake.url();
  p.token = fake.token();
  BotApi api(p);
  auto f = api.call("getFile", {{"file_id", id}});
  ASSERT_TRUE(f);
  const std::string path = (*f)["file_path"];
  auto small = api.download(path, dir + "/small", 1000);  // over the bound: refused, removed
  ASSERT_FALSE(small);
  EXPECT_FALSE(std::filesystem::exists(dir + "/small"));
  auto ok = api.download(path, dir + "/ok", 1u << 20);
  ASSERT_TRUE(ok) << ok.error().summary();
  EXPECT_EQ(*ok, 300000u);
  struct stat st{};
  ASSERT_EQ(::stat((dir + "/ok").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(api.download(path, dir + "/ok", 1u << 20));  // never over an existing file
  std::filesystem::remove_all(dir);
}

TEST(TelegramClient, TokenNeverInAnError) {
  ApiParams p;
  p.api_url = "http://127.0.0.1:" + std::to_string(test::free_loopback_port());
  p.token = "77:VERY-SECRET";
  p.connect_timeout = 1s;
  BotApi api(p);
  auto r = api.call("getMe", json::object());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 0);
  EXPECT_EQ(r.error().summary().find("VERY-SECRET"), std::string::npos);
  EXPECT_EQ(api.redact("https://x/bot77:VERY-SECRET/getMe"), "https://x/bot<token>/getMe");
}

// A Bot API client on a FakeBotApi, for the Sender's tests.
struct FakeClient {
  test::FakeBotApi fake;
  BotApi api{ApiParams{fake.url(), fake.token()}};
  std::atomic<bool> stop{false};
};

TEST(TelegramSender, WaitsOutRateLimitsAndStopsAtABlockedChat) {
  FakeClient c;
  auto& fake = c.fake;
  auto& api = c.api;
  auto& stop = c.stop;
  std::int64_t blocked = 0;
  Sender sender(api, stop, [&](std::int64_t c) { blocked = c; }, BackoffParams{10ms, 50ms});
  fake.fail_next("sendMessage", 429, 1, 1);
  fake.fail_next("sendMessage", 500, 2);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = sender.send("sendMessage", {{"chat_id", 5}, {"text", "hi"}}, 5);
  EXPECT_EQ(r.status, Sent::ok);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 1s);  // retry_after honoured
  EXPECT_EQ(fake.calls("sendMessage").size(), 4u);
  EXPECT_EQ(fake.messages(5).size(), 1u);  // sent once
  fake.fail_next("sendMessage", 403);
  EXPECT_EQ(sender.send("sendMessage", {{"chat_id", 6}, {"text", "hi"}}, 6).status, Sent::blocked);
  EXPECT_EQ(blocked, 6);
  auto m = fake.messages(5);
  auto same = sender.send("editMessageText", {{"chat_id", 5}, {"message_id", m[0].id}, {"text", "hi"}}, 5);
  EXPECT_EQ(same.status, Sent::ignored);
}

// Patience::defer: a 429 on one chat is not waited out in the call; that chat is refused until
// its retry_after has passed, and every other chat is served at once.
TEST(TelegramSender, ARateLimitedChatWaitsAloneWhenDeferring) {
  FakeClient c;
  auto& fake = c.fake;
  Sender sender(c.api, c.stop, nullptr, BackoffParams{10ms, 50ms});
  fake.fail_next("sendMessage", 429, 1, 30, /*chat=*/5);
  auto a = sender.send("sendMessage", {{"chat_id", 5}, {"text", "a"}}, 5, Patience::defer);
  EXPECT_EQ(a.status, Sent::deferred);
  EXPECT_EQ(a.wait, 30s);
  EXPECT_FALSE(sender.ready(5));
  EXPECT_TRUE(sender.ready(6));
  EXPECT_EQ(sender.send("sendMessage", {{"chat_id", 6}, {"text", "b"}}, 6, Patience::defer).status, Sent::ok);
  EXPECT_EQ(sender.send("sendMessage", {{"chat_id", 5}, {"text", "a"}}, 5, Patience::defer).status, Sent::deferred);
  EXPECT_EQ(fake.calls("sendMessage").size(), 2u);  // chat 5's second try never reached the API
  EXPECT_TRUE(fake.messages(5).empty());
  // A backoff (500) is short here: once it is over the chat is served, and forgotten.
  fake.fail_next("sendMessage", 500, 1, 0, 7);
  EXPECT_EQ(sender.send("sendMessage", {{"chat_id", 7}, {"text", "c"}}, 7, Patience::defer).status, Sent::deferred);
  ASSERT_TRUE(test::eventually([&] { return sender.ready(7); }, 5s));
  EXPECT_EQ(sender.send("sendMessage", {{"chat_id", 7}, {"text", "c"}}, 7, Patience::defer).status, Sent::ok);
  EXPECT_EQ(fake.messages(7).size(), 1u);
  // Out of attempts: failed, not deferred for ever.
  sender.max_attempts = 2;
  fake.fail_next("sendMessage", 500, 2, 0, 8);
  EXPECT_EQ(sender.send("sendMessage", {{"chat_id", 8}, {"text", "d"}}, 8, Patience::defer).status, Sent::deferred);
  ASSERT_TRUE(test::eventually([&] { return sender.ready(8); }, 5s));
  EXPECT_EQ(sender.send("sendMessage", {{"chat_id", 8}, {"text", "d"}}, 8, Patience::defer).status, Sent::failed);
  EXPECT_TRUE(sender.ready(8));
}

}  // namespace
}  // namespace soroka::telegram

namespace soroka {
namespace {

TEST(TelegramSettings, ParsedCheckedAndTheTokenNeverShown) {
  Settings s;
  ASSERT_TRUE(apply_toml(s, "[telegram]\nallowed_users = [\"12\", \"-100\"]\nprogress_interval_ms = 500\n", "t"));
  EXPECT_EQ(s.telegram.allowed_users, (std::vector<std::string>{"12", "-100"}));
  EXPECT_EQ(s.telegram.progress_interval, std::chrono::milliseconds(500));
  auto bad = apply_toml(s, "[telegram]\nadmins = [\"12\", \"bob\"]\n", "t");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("bob"), std::string::npos);
  EXPECT_FALSE(apply_toml(s, "[telegram]\napi_url = \"ftp://x\"\n", "t"));
  Settings e;
  ASSERT_TRUE(apply_env(e, {{"SOROKA_TELEGRAM_TOKEN", "1:SECRET"}, {"SOROKA_TELEGRAM_ADMINS", "1,2"}}));
  EXPECT_EQ(e.telegram.admins.size(), 2u);
  EXPECT_TRUE(telegram_configured(e));
  EXPECT_FALSE(telegram_configured(Settings{}));
}

}  // namespace
}  // namespace soroka

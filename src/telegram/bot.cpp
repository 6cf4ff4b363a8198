// Bot: start-up (token, getMe, webhook off, commands), long polling into the bot's store, the
// work queue and its handler threads.
#include "telegram/bot.h"

#include <algorithm>

#include <filesystem>
#include <random>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "telegram/webhook.h"
#include "util/file_reader.h"
#include "util/text.h"

namespace soroka::telegram {

namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// getUpdates' long poll: Telegram holds the request up to this long when nothing arrives.
// 25 s keeps below the 30 s idle timeouts of common proxies and NATs.
constexpr int kPollTimeoutS = 25;
// Pending updates no thread holds (overflow beyond kQueueCap, a send given up on, a transient
// refusal) are looked at again this often.
constexpr auto kRescanEvery = 30s;
// A dedup record is needed while Telegram could re-deliver: 24 h; kept a week.
constexpr std::int64_t kKeepDoneMs = 7LL * 24 * 3600 * 1000;

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t b = 0;
  while (b < s.size() && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  return s.substr(b);
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Result<std::string> read_token(const Settings& s) {
  if (!s.telegram.token.empty()) return trim(s.telegram.token);
  std::string file = s.telegram.token_file;
  if (file.empty() && !s.service.credentials_dir.empty()) file = s.service.credentials_dir + "/telegram_token";
  if (file.empty()) return fail("no Telegram token: set telegram.token, telegram.token_file or SOROKA_TELEGRAM_TOKEN", EINVAL);
  auto text = read_file(file);
  if (!text) return std::unexpected(std::move(text.error()).with_context("telegram.token_file"));
  std::string t = trim(*text);
  if (t.empty()) return fail("telegram.token_file " + file + " is empty", EINVAL);
  return t;
}

Bot::Bot(BotContext ctx, std::unique_ptr<BotStore> store, std::unique_ptr<BotApi> api)
    : ctx_(std::move(ctx)),
      store_(std::move(store)),
      api_(std::move(api)),
      sender_(*api_, stop_, [this](std::int64_t chat) {
        spdlog::info("event=telegram_chat_blocked chat={}", chat);
        (void)store_->set_blocked(chat, true);
      }),
      uploads_(ctx_.state_dir + "/uploads") {}

Bot::~Bot() { stop(); }

Result<std::unique_ptr<Bot>> Bot::start(BotContext ctx) {
  const auto s = ctx.settings.current();
  auto token = read_token(*s);
  if (!token) return std::unexpected(token.error());
  std::error_code ec;
  std::filesystem::create_directories(ctx.state_dir + "/uploads", ec);
  auto store = BotStore::open(ctx.state_dir + "/telegram.sqlite");
  if (!store) return std::unexpected(store.error());
  ApiParams ap;
  ap.api_url = s->telegram.api_url;
  ap.token = *token;
  auto bot = std::unique_ptr<Bot>(new Bot(std::move(ctx), std::move(*store), std::make_unique<BotApi>(ap)));
  if (!s->telegram.webhook_url.empty()) {
    auto secret = read_webhook_secret(*s);
    if (!secret) return std::unexpected(secret.error());
    bot->webhook_url_ = s->telegram.webhook_url;
    bot->webhook_secret_ = *secret;
  }
  if (auto h = bot->hello(); !h) return std::unexpected(h.error());
  bot->launch();
  return bot;
}

// getMe proves the token; deleteWebhook lets getUpdates work (keeping what is pending);
// setMyCommands fills the command menu.
Result<void> Bot::hello() {
  auto me = sender_.send("getMe", json::object(), 0);
  if (me.status != Sent::ok) {
    const auto& e = me.error;
    if (e.http_status == 401 || e.http_status == 404)
      return fail(fmt::format("the Bot API refused the token (HTTP {}: {}): check telegram.token "
                              "(from @BotFather) and telegram.api_url",
                              e.http_status, e.description),
                  EACCES);
    return fail("the Bot API cannot be reached: " + e.summary(), EHOSTUNREACH);
  }
  if (me.result.is_object() && me.result.contains("username") && me.result["username"].is_string())
    username_ = me.result["username"].get<std::string>();
  if (webhook_mode()) {
    // Telegram posts to the URL from now on, with the secret; what is pending is kept.
    json p = {{"url", webhook_url_}, {"secret_token", webhook_secret_}, {"drop_pending_updates", false},
              {"allowed_updates", json::array({"message", "callback_query"})}};
    if (auto w = sender_.send("setWebhook", p, 0); w.status != Sent::ok)
      return fail("setWebhook failed: " + w.error.summary() + " (telegram.webhook_url must be a public https URL)",
                  EPROTO);
  } else if (auto d = sender_.send("deleteWebhook", {{"drop_pending_updates", false}}, 0); d.status != Sent::ok) {
    return fail("deleteWebhook failed: " + d.error.summary(), EPROTO);
  }
  for (Lang l : {Lang::en, Lang::ru}) {
    json p = {{"commands", json::parse(commands_json(l))}};
    if (l == Lang::ru) p["language_code"] = "ru";
    if (auto r = sender_.send("setMyCommands", p, 0); r.status != Sent::ok)
      spdlog::warn("event=telegram_set_commands_failed lang={} error=\"{}\"", code(l), log_escape(r.error.summary()));
  }
  spdlog::info("event=telegram_started bot=\"{}\" api=\"{}\" mode={}", log_escape(username_),
               log_escape(api_->params().api_url), webhook_mode() ? "webhook" : "long_polling");
  return {};
}

void Bot::launch() {
  rescan();
  if (webhook_mode()) threads_.emplace_back([this] { webhook_loop(); });
  else threads_.emplace_back([this] { poll_loop(); });
  threads_.emplace_back([this] { handler_loop(); });
  threads_.emplace_back([this] { handler_loop(); });
  threads_.emplace_back([this] { watch_loop(); });
}

void Bot::stop() {
  if (stop_.exchange(true)) return;
  api_->abort_all();
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  spdlog::info("event=telegram_stopped");
}

bool Bot::sleep_for(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [this] { return stop_.load(); });
  return !stop_;
}

frontend::Caller Bot::caller(std::int64_t chat) const {
  return frontend::Caller{fmt::format("tg:{}", chat), false};
}

void Bot::poll_loop() {
  auto offset = store_->offset();
  std::int64_t next = offset ? *offset : 0;
  int attempt = 0;
  auto last_rescan = std::chrono::steady_clock::now();
  while (!stop_) {
    if (!poll_once(next, attempt)) continue;
    housekeep(last_rescan);
  }
}

void Bot::webhook_loop() {
  auto last_rescan = std::chrono::steady_clock::now();
  while (sleep_for(1s)) housekeep(last_rescan);
}

// Pending updates no thread holds are picked up again; done ones past their week deleted.
void Bot::housekeep(std::chrono::steady_clock::time_point& last_rescan) {
  if (std::chrono::steady_clock::now() - last_rescan < kRescanEvery) return;
  last_rescan = std::chrono::steady_clock::now();
  rescan();
  if (auto p = store_->purge(wall_ms() - kKeepDoneMs); p && *p > 0) spdlog::info("event=telegram_purge updates={}", *p);
}

// Writing to a bot unblocks it: a chat that blocked us and writes again is answered again.
void Bot::unblock(const std::set<std::int64_t>& chats) {
  for (auto chat : chats)
    if (auto pr = store_->prefs(chat); pr && pr->blocked) (void)store_->set_blocked(chat, false);
}

int Bot::take_update(std::string_view body) {
  if (stop_) return 503;
  const json u = json::parse(body, nullptr, false);
  auto in = u.is_discarded() ? std::nullopt : parse_update(u);
  if (!in) return 400;
  const TakenUpdate row{in->update_id, in->chat_id, u.dump(-1, ' ', false, json::error_handler_t::replace), {}, 0, 0, false};
  if (auto t = store_->take({row}, in->update_id + 1); !t) {
    spdlog::error("event=telegram_store_failed op=webhook error=\"{}\"", log_escape(t.error().message));
    return 503;  // not recorded: Telegram posts it again
  }
  if (in->content != Content::none) unblock({in->chat_id});
  spdlog::debug("event=telegram_update_posted update={}", in->update_id);
  enqueue(in->update_id, in->chat_id);
  return 200;
}

// One getUpdates; the updates recorded (one transaction, with the new offset) before the
// next call confirms them to Telegram. false: it failed and was waited out.
bool Bot::poll_once(std::int64_t& offset, int& attempt) {
  json p = {{"offset", offset}, {"timeout", kPollTimeoutS}, {"limit", 100},
            {"allowed_updates", json::array({"message", "callback_query"})}};
  auto r = api_->call("getUpdates", p, std::chrono::seconds(kPollTimeoutS));
  if (r && !r->is_array()) r = std::unexpected(ApiError{200, 200, "getUpdates result is not an array", 0, {}, true});
  if (!r) {
    if (stop_) return false;
    thread_local std::minstd_rand rng{std::random_device{}()};
    Decision d = decide(r.error(), attempt++, std::uniform_real_distribution<double>(0, 1)(rng));
    if (d.action == Action::give_up || d.action == Action::chat_blocked || d.action == Action::ignore)
      d.wait = 60s;  // a 401 after start (token revoked): keep trying, slowly
    if (r.error().http_status == 409)
      spdlog::error("event=telegram_conflict wait_ms={} error=\"another instance is polling with this token, "
                    "or a webhook is set: {}\"", d.wait.count(), log_escape(r.error().description));
    else
      spdlog::warn("event=telegram_poll_failed attempt={} wait_ms={} error=\"{}\"", attempt, d.wait.count(),
                   log_escape(r.error().summary()));
    sleep_for(d.wait);
    return false;
  }
  attempt = 0;
  std::vector<TakenUpdate> batch;
  std::int64_t next = offset;
  std::set<std::int64_t> chats;
  for (const auto& u : *r) {
    auto in = parse_update(u);
    if (!in) continue;
    batch.push_back({in->update_id, in->chat_id, u.dump(-1, ' ', false, json::error_handler_t::replace), {}, 0, 0, false});
    next = std::max(next, in->update_id + 1);
    if (in->content != Content::none) chats.insert(in->chat_id);
  }
  if (batch.empty()) return true;
  if (auto t = store_->take(batch, next); !t) {
    spdlog::error("event=telegram_store_failed error=\"{}\"", log_escape(t.error().message));
    sleep_for(1s);  // the offset stays: Telegram sends them again
    return false;
  }
  offset = next;
  unblock(chats);
  spdlog::debug("event=telegram_updates count={} offset={}", batch.size(), offset);
  for (const auto& u : batch) enqueue(u.update_id, u.chat_id);
  return true;
}

void Bot::enqueue(std::int64_t update_id, std::int64_t chat_id) {
  {
    std::lock_guard lock(mu_);
    if (in_flight_.contains(update_id)) return;
    if (queue_.size() >= kQueueCap) {
      overflowed_ = true;  // left in the store; a handler rescans when the queue runs dry
      return;
    }
    in_flight_.insert(update_id);
    queue_.push_back({update_id, chat_id});
  }
  cv_.notify_all();  // all: sleep_for() waits on cv_ too and would swallow a notify_one
}

void Bot::rescan() {
  auto p = store_->pending(kQueueCap);
  if (!p) {
    spdlog::warn("event=telegram_rescan_failed error=\"{}\"", log_escape(p.error().message));
    return;
  }
  for (const auto& row : *p) enqueue(row.update_id, row.chat_id);
}

std::deque<Bot::Queued>::iterator Bot::next_runnable() {
  return std::find_if(queue_.begin(), queue_.end(), [this](const Queued& q) { return !busy_chats_.contains(q.chat_id); });
}

void Bot::handler_loop() {
  while (true) {
    Queued q{};
    {
      std::unique_lock lock(mu_);
      if (queue_.empty() && overflowed_) {
        overflowed_ = false;
        lock.unlock();
        rescan();
        continue;
      }
      cv_.wait(lock, [this] { return stop_ || next_runnable() != queue_.end(); });
      if (stop_) return;
      auto it = next_runnable();
      q = *it;
      queue_.erase(it);
      busy_chats_.insert(q.chat_id);
    }
    auto row = store_->get(q.update_id);
    if (row && *row && !(*row)->done) {
      handle(**row);
    } else {
      std::lock_guard lock(mu_);
      in_flight_.erase(q.update_id);
    }
    {
      std::lock_guard lock(mu_);
      busy_chats_.erase(q.chat_id);
    }
    cv_.notify_all();  // the chat's next update, if any, may go now
  }
}

// Leaves in_flight_ when the update is done or handed to the watcher.
void Bot::handle(const TakenUpdate& row) {
  auto release = [&] {
    std::lock_guard lock(mu_);
    in_flight_.erase(row.update_id);
  };
  auto in = parse_update(json::parse(row.payload, nullptr, false));
  // Read once here for the whole update (a media update needs them again at intake and submit;
  // the chat's later updates wait for this one, so they cannot change meanwhile).
  auto stored = store_->prefs(row.chat_id);
  const ChatPrefs prefs = stored ? *stored : ChatPrefs{};
  if (!in || in->content == Content::none || prefs.blocked) {
    finish(row.update_id);
    return release();
  }
  const Lang lang = pick_lang(prefs.lang, in->language_code);
  if (in->content == Content::callback) {
    handle_callback(*in, allowed(*in));
    finish(row.update_id);
    return release();
  }
  if (!allowed(*in)) {
    spdlog::info("event=telegram_not_allowed user={} chat={}", in->user_id, in->chat_id);
    reply(*in, std::string(text(lang, Text::not_allowed)));
    finish(row.update_id);
    return release();
  }
  if (in->content == Content::media) return intake(row, *in, lang, prefs);  // releases itself
  if (in->content == Content::command) handle_command(*in, lang);
  else reply(*in, std::string(text(lang, in->content == Content::text ? Text::help : Text::unsupported)));
  finish(row.update_id);
  release();
}

void Bot::finish(std::int64_t update_id) {
  if (auto r = store_->finish(update_id); !r)
    spdlog::error("event=telegram_store_failed op=finish update={} error=\"{}\"", update_id,
                  log_escape(r.error().message));
}

}  // namespace soroka::telegram

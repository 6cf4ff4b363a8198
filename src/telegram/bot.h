// Bot: the Telegram front end on the jobs interface: long polling, media in, progress and
// transcripts out, commands; every update answered exactly once across crashes.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "config/settings_store.h"
#include "frontend/job_service.h"
#include "oomguard/levels.h"
#include "telegram/bot_api.h"
#include "telegram/bot_store.h"
#include "telegram/engine_choice.h"
#include "telegram/sender.h"
#include "telegram/texts.h"
#include "telegram/update.h"

namespace soroka::telegram {

struct BotContext {
  frontend::JobService& jobs;
  SettingsStore& settings;
  std::string state_dir;  // downloads go to its uploads/; the bot's own store is telegram.sqlite
  std::function<oomguard::Level()> level;  // for /status; null: not shown
  std::function<std::string()> stats;      // /stats for admins; null: not offered
};

// The token: telegram.token, else the file telegram.token_file, else the systemd credential
// telegram_token; trimmed. An error names where it looked, never the token.
Result<std::string> read_token(const Settings& s);

// Threads: one poller (getUpdates; records updates, never waits for a job, a download or a
// send), two handlers (commands; a media message's size check, placeholder, download and
// submit), one watcher (progress edits and results). The in-memory queue holds update ids
// only, at most kQueueCap; the rest wait in the store and are picked up by a rescan.
class Bot {
 public:
  // Opens the store, reads the token, getMe, deleteWebhook (pending updates kept),
  // setMyCommands; then starts the threads. A wrong token: an error saying so.
  static Result<std::unique_ptr<Bot>> start(BotContext ctx);
  ~Bot();
  // Stops polling and the threads (an interrupted send or download is resumed at the next
  // start: its update is not done).
  void stop();
  const std::string& username() const { return username_; }
  // Webhook mode (telegram.webhook_url): one update as Telegram posted it, recorded in the
  // store (its own transaction, committed) before this returns 200, then queued for the
  // handlers; Telegram re-posting it is answered 200 and ignored. 400: not an update; 503:
  // the store failed (Telegram posts it again later). Thread-safe.
  int take_update(std::string_view body);
  bool webhook_mode() const { return !webhook_url_.empty(); }

  static constexpr std::size_t kQueueCap = 1000;

 private:
  struct Watched {
    TakenUpdate row;
    Lang lang = Lang::en;
    std::string format;
    std::string shown;  // the placeholder's text now
    std::chrono::steady_clock::time_point last_edit{}, last_action{};
  };

  Bot(BotContext ctx, std::unique_ptr<BotStore> store, std::unique_ptr<BotApi> api);
  Result<void> hello();
  void launch();

  // bot.cpp: polling and the work queue
  void poll_loop();
  void webhook_loop();  // webhook mode: no polling, only the rescan and purge
  void housekeep(std::chrono::steady_clock::time_point& last_rescan);
  void unblock(const std::set<std::int64_t>& chats);
  bool poll_once(std::int64_t& offset, int& attempt);
  void rescan();
  struct Queued {
    std::int64_t update_id, chat_id;
  };
  void enqueue(std::int64_t update_id, std::int64_t chat_id);
  std::deque<Queued>::iterator next_runnable();  // under mu_; end() when none
  void handler_loop();
  void handle(const TakenUpdate& row);
  bool sleep_for(std::chrono::milliseconds d);  // false: stopping

  // bot_commands.cpp
  void handle_command(const Incoming& in, Lang lang);
  std::string status_text(const Incoming& in, Lang lang);
  static std::string job_state_text(const frontend::JobView& v, Lang lang);
  void send_settings(const Incoming& in, Lang lang);
  std::string engine_command(const Incoming& in, Lang lang, const std::string& name);
  EngineOption engine_for(std::int64_t chat, const ChatPrefs& p, Lang lang, const EngineMenu& menu);
  void handle_callback(const Incoming& in, bool allowed_user);
  std::string cancel_text(const Incoming& in, Lang lang);
  bool allowed(const Incoming& in) const;
  bool is_admin(std::int64_t user) const;
  void reply(const Incoming& in, const std::string& text);

  // bot_intake.cpp: a media message up to a stored job
  // `prefs`: the chat's, as read once for this update by handle().
  void intake(TakenUpdate row, const Incoming& in, Lang lang, const ChatPrefs& prefs);
  std::optional<std::string> size_refusal(const Media& m, Lang lang) const;
  bool placeholder(TakenUpdate& row, const Incoming& in, Lang lang);
  std::optional<std::string> fetch(const Incoming& in, const Media& m, std::string& error);
  std::expected<std::uint64_t, ApiError> download(const Incoming& in, const std::string& file_path,
                                                  const std::string& dest, std::uint64_t max);
  void submit(TakenUpdate row, const Incoming& in, const std::string& path, Lang lang, const ChatPrefs& p);
  void refused(const TakenUpdate& row, const frontend::Refused& r, Lang lang);
  frontend::Quotas quotas() const;

  // bot_delivery.cpp: progress and results
 public:
  enum class Delivery { answered, deferred, failed };  // failed: retried at the next rescan

 private:
  void watch(const TakenUpdate& row, Lang lang, const std::string& format);
  void watch_loop();
  void look_at(Watched& w);
  Delivery deliver(Watched& w, const jobs::Job& job);
  Delivery deliver_document(Watched& w, const std::string& body, const std::string& ext);
  Sent edit(Watched& w, const std::string& text);
  // Edits the update's placeholder into `text`, or sends it when there is none; answered once
  // the API confirmed it (or it already said so, or the chat blocked us).
  Delivery edit_or_send(const TakenUpdate& row, std::int64_t chat, const std::string& text,
                        Patience patience = Patience::wait);
  void finish(std::int64_t update_id);

  frontend::Caller caller(std::int64_t chat) const;
  std::shared_ptr<const Settings> cfg() const { return ctx_.settings.current(); }

  BotContext ctx_;
  std::unique_ptr<BotStore> store_;
  std::unique_ptr<BotApi> api_;
  Sender sender_;
  std::string username_;
  std::string uploads_;
  std::string webhook_url_, webhook_secret_;  // webhook mode when the URL is set

  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  // Updates in the order taken. A handler takes the first whose chat no other handler is on,
  // so a chat's messages are answered in the order sent ("/language ru" then "/format srt").
  std::deque<Queued> queue_;
  std::set<std::int64_t> busy_chats_;
  bool overflowed_ = false;  // an update was left out of a full queue_
  std::set<std::int64_t> in_flight_;  // queued, handled or watched: never twice at once
  std::map<std::int64_t, Watched> watched_;
  std::vector<std::thread> threads_;
};

}  // namespace soroka::telegram

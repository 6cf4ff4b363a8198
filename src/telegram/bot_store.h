// BotStore: the bot's own SQLite file in the state dir: updates taken (and how far each got),
// the polling offset, per-chat settings.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "jobs/sqlite_db.h"
#include "util/result.h"

namespace soroka::telegram {

// An update as taken from getUpdates, and how far its handling got. A row is written before
// the offset moves past it, so a crash never loses one; `done` once its answer is confirmed.
struct TakenUpdate {
  std::int64_t update_id = 0;
  std::int64_t chat_id = 0;
  std::string payload;         // the update's JSON as received (bounded by the answer cap)
  std::string job_id;          // once the job is stored ("" before)
  std::int64_t reply_id = 0;   // the placeholder message, once Telegram confirmed it (0 before)
  // The transcript sent as a document, once Telegram confirmed it (0 before): a restart
  // between that and `done` edits the placeholder instead of sending the document again.
  std::int64_t document_id = 0;
  bool done = false;
};

struct ChatPrefs {
  std::string lang;    // "en", "ru"; "" : from the user's language_code
  std::string format;  // "text", "srt", "vtt", "file"; "" : text
  std::string speakers;  // "on": diarize (speaker turns in the transcript); "off", "": not
  std::string engine;    // the model its jobs name (telegram/engine_choice.h); "" : telegram.model
  bool blocked = false;  // 403: the user blocked the bot; nothing more is sent there
};

// A preference /settings offers (settings_keyboard.h); each is a column of the chats table.
enum class Pref { lang, format, speakers, engine };

// Thread-safe (one connection under a mutex, like the job store).
class BotStore {
 public:
  static Result<std::unique_ptr<BotStore>> open(const std::string& path);

  // The offset to ask getUpdates for: one past the newest update taken.
  Result<std::int64_t> offset();
  // Records the updates (ignoring ones already taken) and the new offset in one transaction.
  Result<void> take(const std::vector<TakenUpdate>& updates, std::int64_t next_offset);
  // Updates not done, oldest first, at most `limit`.
  Result<std::vector<TakenUpdate>> pending(std::size_t limit);
  Result<std::optional<TakenUpdate>> get(std::int64_t update_id);
  Result<void> set_reply(std::int64_t update_id, std::int64_t reply_id);
  Result<void> set_document(std::int64_t update_id, std::int64_t message_id);
  Result<void> set_job(std::int64_t update_id, const std::string& job_id);
  Result<void> finish(std::int64_t update_id);
  // The chat's updates with a job that are not done (its running and queued jobs).
  Result<std::vector<TakenUpdate>> active(std::int64_t chat_id);
  // Done updates older than `older_than_ms` (wall clock) are deleted: the dedup record is
  // needed only while Telegram could re-deliver (24 h at most).
  Result<std::int64_t> purge(std::int64_t older_than_ms);

  Result<ChatPrefs> prefs(std::int64_t chat_id);
  Result<void> set_lang(std::int64_t chat_id, const std::string& lang);
  Result<void> set_format(std::int64_t chat_id, const std::string& format);
  Result<void> set_pref(std::int64_t chat_id, Pref pref, const std::string& value);
  Result<void> set_blocked(std::int64_t chat_id, bool blocked);
  // Clears the chat's engine if it is still `was`: true for the one caller that cleared it, so
  // a chat told its engine is gone is told once, whichever handler saw it first.
  Result<bool> clear_engine(std::int64_t chat_id, const std::string& was);

  // The schema's version (PRAGMA user_version): one more per column added since the first
  // release; open() brings an older file up to it in place.
  static constexpr int kSchemaVersion = 3;
  Result<int> schema_version();

 private:
  explicit BotStore(jobs::sqlite::Connection c) : db_(std::move(c)) {}
  static Result<void> migrate(jobs::sqlite::Connection& c);
  Result<std::vector<TakenUpdate>> rows(const std::string& sql, std::int64_t arg);
  Result<void> exec1(const std::string& sql, std::int64_t a, std::optional<std::string> text,
                     std::optional<std::int64_t> b);
  // The same, returning the rows it changed (read under the same lock as the statement).
  Result<std::int64_t> exec_count(const std::string& sql, std::int64_t a, std::optional<std::string> text,
                                  std::optional<std::int64_t> b);

  std::mutex mu_;
  jobs::sqlite::Connection db_;
};

}  // namespace soroka::telegram

// BotStore: the bot's own SQLite file in the state dir: updates taken (and how far each got),
// the polling offset, per-chat settings.
#include "telegram/bot_store.h"

#include <chrono>
#include <iterator>

#include <fmt/format.h>

#include "jobs/schema.h"

namespace soroka::telegram {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS updates(
  update_id INTEGER PRIMARY KEY,
  chat_id INTEGER NOT NULL,
  payload TEXT NOT NULL,
  job_id TEXT,
  reply_id INTEGER NOT NULL DEFAULT 0,
  done INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS updates_open ON updates(done, chat_id);
CREATE TABLE IF NOT EXISTS chats(
  chat_id INTEGER PRIMARY KEY,
  lang TEXT NOT NULL DEFAULT '',
  format TEXT NOT NULL DEFAULT '',
  speakers TEXT NOT NULL DEFAULT '',
  blocked INTEGER NOT NULL DEFAULT 0);
)sql";

// Columns added after the first release, in order: schema version N has the first N. A file
// made before one gets it at open (its rows keep their values, the column its default).
struct AddedColumn {
  const char* table;
  const char* name;
  const char* definition;
};
constexpr AddedColumn kAdded[] = {
    {"updates", "document_id", "INTEGER NOT NULL DEFAULT 0"},  // 1
    {"chats", "speakers", "TEXT NOT NULL DEFAULT ''"},         // 2
    {"chats", "engine", "TEXT NOT NULL DEFAULT ''"},           // 3
};
static_assert(std::size(kAdded) == BotStore::kSchemaVersion);

constexpr const char* kColumns = "update_id, chat_id, payload, coalesce(job_id, ''), reply_id, done, document_id";

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TakenUpdate row_of(const jobs::sqlite::Query& q) {
  return TakenUpdate{q.i64(0), q.i64(1), q.text(2), q.text(3), q.i64(4), q.i64(6), q.i64(5) != 0};
}

// Statements here end (their Query reset) before the caller alters the table.
Result<bool> has_column(jobs::sqlite::Connection& c, const char* table, const char* name) {
  auto q = c.query("SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2");
  if (!q) return std::unexpected(q.error());
  q->bind(1, table).bind(2, name);
  auto row = q->step();
  if (!row) return std::unexpected(row.error());
  return *row && q->i64(0) > 0;
}

// At the current version or past it. Never lowered: a file a newer release made keeps its
// number (and its extra columns).
Result<bool> up_to_date(jobs::sqlite::Connection& c) {
  auto v = jobs::schema::user_version(c);
  if (!v) return std::unexpected(v.error());
  return *v >= BotStore::kSchemaVersion;
}

}  // namespace

Result<std::unique_ptr<BotStore>> BotStore::open(const std::string& path) {
  auto c = jobs::sqlite::Connection::open(path, std::chrono::seconds(5));
  if (!c) return std::unexpected(std::move(c.error()).with_context("bot store"));
  if (auto r = c->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"); !r)
    return std::unexpected(r.error());
  if (auto r = migrate(*c); !r) return std::unexpected(std::move(r.error()).with_context("bot store schema"));
  return std::unique_ptr<BotStore>(new BotStore(std::move(*c)));
}

// A file at the current version (every open but the first after an upgrade) costs one read and
// no write lock. Otherwise the tables, each added column the file lacks, and the version, in
// one transaction: a crash halfway leaves the file as it was. Files from before versions
// (user_version 0) may have some of the columns already, so each is looked up rather than
// assumed from the version.
Result<void> BotStore::migrate(jobs::sqlite::Connection& c) {
  auto current = up_to_date(c);
  if (!current) return std::unexpected(current.error());
  if (*current) return {};
  auto tx = jobs::sqlite::Transaction::begin(c);
  if (!tx) return std::unexpected(tx.error());
  current = up_to_date(c);  // again under the write lock: another opener may have migrated
  if (!current) return std::unexpected(current.error());
  if (*current) return {};  // nothing written; the transaction ends unused
  if (auto r = c.exec(kSchema); !r) return r;
  for (const auto& col : kAdded) {
    auto has = has_column(c, col.table, col.name);
    if (!has) return std::unexpected(has.error());
    if (*has) continue;
    const std::string sql = fmt::format("ALTER TABLE {} ADD COLUMN {} {}", col.table, col.name, col.definition);
    if (auto r = c.exec(sql.c_str()); !r) return r;
  }
  // PRAGMA takes no bound parameters; the number is ours.
  if (auto r = c.exec(fmt::format("PRAGMA user_version = {}", kSchemaVersion).c_str()); !r) return r;
  return tx->commit();
}

Result<int> BotStore::schema_version() {
  std::lock_guard lock(mu_);
  return jobs::schema::user_version(db_);
}

Result<std::int64_t> BotStore::offset() {
  std::lock_guard lock(mu_);
  auto q = db_.query("SELECT value FROM meta WHERE key = 'offset'");
  if (!q) return std::unexpected(q.error());
  auto row = q->step();
  if (!row) return std::unexpected(row.error());
  return *row ? q->i64(0) : 0;
}

Result<void> BotStore::take(const std::vector<TakenUpdate>& updates, std::int64_t next_offset) {
  std::lock_guard lock(mu_);
  auto tx = jobs::sqlite::Transaction::begin(db_);
  if (!tx) return std::unexpected(tx.error());
  const auto now = wall_ms();
  for (const auto& u : updates) {
    auto q = db_.query(
        "INSERT OR IGNORE INTO updates(update_id, chat_id, payload, created_ms) VALUES(?1, ?2, ?3, ?4)");
    if (!q) return std::unexpected(q.error());
    if (auto r = q->bind(1, u.update_id).bind(2, u.chat_id).bind(3, u.payload).bind(4, now).run(); !r)
      return r;
  }
  auto q = db_.query(
      "INSERT INTO meta(key, value) VALUES('offset', ?1) "
      "ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)");
  if (!q) return std::unexpected(q.error());
  if (auto r = q->bind(1, next_offset).run(); !r) return r;
  return tx->commit();
}

Result<std::vector<TakenUpdate>> BotStore::rows(const std::string& sql, std::int64_t arg) {
  std::lock_guard lock(mu_);
  auto q = db_.query(sql);
  if (!q) return std::unexpected(q.error());
  q->bind(1, arg);
  std::vector<TakenUpdate> out;
  for (;;) {
    auto row = q->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    out.push_back(row_of(*q));
  }
  return out;
}

Result<std::vector<TakenUpdate>> BotStore::pending(std::size_t limit) {
  return rows(std::string("SELECT ") + kColumns + " FROM updates WHERE done = 0 ORDER BY update_id LIMIT ?1",
              static_cast<std::int64_t>(limit));
}

Result<std::optional<TakenUpdate>> BotStore::get(std::int64_t update_id) {
  auto r = rows(std::string("SELECT ") + kColumns + " FROM updates WHERE update_id = ?1", update_id);
  if (!r) return std::unexpected(r.error());
  if (r->empty()) return std::nullopt;
  return std::move(r->front());
}

Result<std::vector<TakenUpdate>> BotStore::active(std::int64_t chat_id) {
  return rows(std::string("SELECT ") + kColumns +
                  " FROM updates WHERE done = 0 AND chat_id = ?1 AND job_id IS NOT NULL ORDER BY update_id",
              chat_id);
}

Result<std::int64_t> BotStore::exec_count(const std::string& sql, std::int64_t a, std::optional<std::string> text,
                                     std::optional<std::int64_t> b) {
  std::lock_guard lock(mu_);
  auto q = db_.query(sql);
  if (!q) return std::unexpected(q.error());
  q->bind(1, a);
  if (text) q->bind(2, *text);
  if (b) q->bind(text ? 3 : 2, *b);
  if (auto r = q->run(); !r) return std::unexpected(r.error());
  return db_.changes();  // under the same lock: no other statement on the connection in between
}

Result<void> BotStore::exec1(const std::string& sql, std::int64_t a, std::optional<std::string> text,
                             std::optional<std::int64_t> b) {
  auto n = exec_count(sql, a, std::move(text), b);
  if (!n) return std::unexpected(n.error());
  return {};
}

Result<void> BotStore::set_reply(std::int64_t update_id, std::int64_t reply_id) {
  return exec1("UPDATE updates SET reply_id = ?2 WHERE update_id = ?1", update_id, std::nullopt, reply_id);
}
Result<void> BotStore::set_document(std::int64_t update_id, std::int64_t message_id) {
  return exec1("UPDATE updates SET document_id = ?2 WHERE update_id = ?1", update_id, std::nullopt, message_id);
}
Result<void> BotStore::set_job(std::int64_t update_id, const std::string& job_id) {
  return exec1("UPDATE updates SET job_id = ?2 WHERE update_id = ?1", update_id, job_id, std::nullopt);
}
Result<void> BotStore::finish(std::int64_t update_id) {
  return exec1("UPDATE updates SET done = 1 WHERE update_id = ?1", update_id, std::nullopt, std::nullopt);
}

Result<std::int64_t> BotStore::purge(std::int64_t older_than_ms) {
  return exec_count("DELETE FROM updates WHERE done = 1 AND created_ms < ?1", older_than_ms, std::nullopt,
                    std::nullopt);
}

Result<ChatPrefs> BotStore::prefs(std::int64_t chat_id) {
  std::lock_guard lock(mu_);
  auto q = db_.query("SELECT lang, format, blocked, speakers, engine FROM chats WHERE chat_id = ?1");
  if (!q) return std::unexpected(q.error());
  q->bind(1, chat_id);
  auto row = q->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return ChatPrefs{};
  return ChatPrefs{q->text(0), q->text(1), q->text(3), q->text(4), q->i64(2) != 0};
}

Result<void> BotStore::set_lang(std::int64_t chat_id, const std::string& lang) {
  return exec1("INSERT INTO chats(chat_id, lang) VALUES(?1, ?2) ON CONFLICT(chat_id) DO UPDATE SET lang = ?2",
               chat_id, lang, std::nullopt);
}
Result<void> BotStore::set_format(std::int64_t chat_id, const std::string& format) {
  return exec1(
      "INSERT INTO chats(chat_id, format) VALUES(?1, ?2) ON CONFLICT(chat_id) DO UPDATE SET format = ?2",
      chat_id, format, std::nullopt);
}
Result<void> BotStore::set_pref(std::int64_t chat_id, Pref pref, const std::string& value) {
  switch (pref) {
    case Pref::lang: return set_lang(chat_id, value);
    case Pref::format: return set_format(chat_id, value);
    case Pref::speakers:
      return exec1(
          "INSERT INTO chats(chat_id, speakers) VALUES(?1, ?2) ON CONFLICT(chat_id) DO UPDATE SET speakers = ?2",
          chat_id, value, std::nullopt);
    case Pref::engine:
      return exec1(
          "INSERT INTO chats(chat_id, engine) VALUES(?1, ?2) ON CONFLICT(chat_id) DO UPDATE SET engine = ?2",
          chat_id, value, std::nullopt);
  }
  return {};
}
Result<void> BotStore::set_blocked(std::int64_t chat_id, bool blocked) {
  return exec1(
      "INSERT INTO chats(chat_id, blocked) VALUES(?1, ?2) ON CONFLICT(chat_id) DO UPDATE SET blocked = ?2",
      chat_id, std::nullopt, blocked ? 1 : 0);
}

Result<bool> BotStore::clear_engine(std::int64_t chat_id, const std::string& was) {
  auto changed = exec_count("UPDATE chats SET engine = '' WHERE chat_id = ?1 AND engine = ?2", chat_id, was, std::nullopt);
  if (!changed) return std::unexpected(changed.error());
  return *changed == 1;
}

}  // namespace soroka::telegram

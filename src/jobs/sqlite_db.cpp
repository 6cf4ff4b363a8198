// RAII over the SQLite C API: error mapping, queries, the statement cache, transactions.
#include "jobs/sqlite_db.h"

#include <unistd.h>

#include <cerrno>
#include <random>
#include <thread>

namespace soroka::jobs::sqlite {

namespace {

int errno_for(sqlite3* db, int rc) {
  switch (rc & 0xff) {  // the primary code; the extended code is in the message
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return EBUSY;
    case SQLITE_NOMEM:
      return ENOMEM;
    case SQLITE_FULL:
      return ENOSPC;
    case SQLITE_READONLY:
      return EROFS;
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return EACCES;
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_CONSTRAINT:
      return EINVAL;
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR: {
      const int e = db ? sqlite3_system_errno(db) : 0;
      return e != 0 ? e : EIO;
    }
    default:
      return EIO;
  }
}

}  // namespace

Error db_error(sqlite3* db, int rc, std::string_view what) {
  // errmsg describes the connection's latest failure, which is this one: calls are serialised.
  std::string msg(what);
  msg += ": ";
  msg += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  msg += " (sqlite code " + std::to_string(rc) + ")";
  return Error{errno_for(db, rc), std::move(msg)};
}

// ---- Query ----

Query::Query(Query&& o) noexcept
    : db_(o.db_),
      stmt_(std::exchange(o.stmt_, nullptr)),
      bind_rc_(o.bind_rc_),
      bind_index_(o.bind_index_) {}

Query::~Query() {
  if (stmt_ == nullptr) return;
  // A statement left mid-way keeps its read transaction open, which in WAL mode stops
  // checkpoints from finishing and the WAL from shrinking.
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

namespace {
// Remembers the first failed bind; step() reports it.
void note_bind(int rc, int index, int& bind_rc, int& bind_index) {
  if (rc != SQLITE_OK && bind_rc == SQLITE_OK) {
    bind_rc = rc;
    bind_index = index;
  }
}
}  // namespace

Query& Query::bind(int index, std::int64_t v) {
  note_bind(sqlite3_bind_int64(stmt_, index, v), index, bind_rc_, bind_index_);
  return *this;
}

Query& Query::bind(int index, double v) {
  note_bind(sqlite3_bind_double(stmt_, index, v), index, bind_rc_, bind_index_);
  return *this;
}

Query& Query::bind(int index, std::string_view v) {
  // SQLITE_TRANSIENT: SQLite copies, so the caller's buffer need not outlive the step.
  note_bind(sqlite3_bind_text64(stmt_, index, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
            index, bind_rc_, bind_index_);
  return *this;
}

Query& Query::bind_null(int index) {
  note_bind(sqlite3_bind_null(stmt_, index), index, bind_rc_, bind_index_);
  return *this;
}

Result<bool> Query::step() {
  if (bind_rc_ != SQLITE_OK) {
    return std::unexpected(
        db_error(db_, bind_rc_, "binding parameter " + std::to_string(bind_index_)));
  }
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  // The statement's opening words say which one failed; callers add what they were doing.
  return std::unexpected(db_error(db_, rc, std::string_view(sqlite3_sql(stmt_)).substr(0, 60)));
}

Result<void> Query::run() {
  for (;;) {
    auto r = step();
    if (!r) return std::unexpected(std::move(r.error()));
    if (!*r) return {};
  }
}

bool Query::is_null(int col) const noexcept {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

std::int64_t Query::i64(int col) const noexcept {
  return static_cast<std::int64_t>(sqlite3_column_int64(stmt_, col));
}

double Query::f64(int col) const noexcept {
  return sqlite3_column_double(stmt_, col);
}

std::string Query::text(int col) const {
  // text() before bytes(): the documented order that yields the UTF-8 length.
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  const int n = sqlite3_column_bytes(stmt_, col);
  if (p == nullptr || n <= 0) return {};
  return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
}

// ---- Connection ----

// SQLite's own busy handler (sqlite3_busy_timeout) sleeps 1, 2, 5, 10 ... up to 100 ms between
// retries. Against a writer that commits every few ms and comes straight back (a worker
// claiming and completing back to back), a waiter that sleeps 100 ms almost never finds the
// lock free: in a 4-process test one process took all 200 jobs. Short sleeps with jitter
// (0.2-2 ms) let waiters in as soon as the lock is released and keep them from retrying in
// step with each other.
struct Connection::BusyWait {
  std::chrono::milliseconds timeout;
  std::chrono::steady_clock::time_point start{};
  std::minstd_rand rng;
};

void Connection::BusyWaitDeleter::operator()(BusyWait* b) const noexcept {
  delete b;
}

int Connection::busy_retry(void* wait, int count) {
  auto* b = static_cast<BusyWait*>(wait);
  const auto now = std::chrono::steady_clock::now();
  if (count == 0) b->start = now;              // 0: the first call for this lock attempt
  if (now - b->start >= b->timeout) return 0;  // give up: the caller gets SQLITE_BUSY
  std::this_thread::sleep_for(std::chrono::microseconds(200 + b->rng() % 1800));
  return 1;
}

Connection::Connection(DbPtr db, std::unique_ptr<BusyWait, BusyWaitDeleter> busy)
    : busy_(std::move(busy)), db_(std::move(db)) {}

Result<Connection> Connection::open(const std::string& path,
                                    std::chrono::milliseconds busy_timeout) {
  sqlite3* raw = nullptr;
  // NOMUTEX: the owner serialises access, SQLite's own per-connection mutex would be redundant.
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  DbPtr db(raw);  // owned even on failure: open_v2 may allocate a handle that must be closed
  if (rc != SQLITE_OK) return std::unexpected(db_error(db.get(), rc, "opening " + path));
  sqlite3_extended_result_codes(db.get(), 1);
  // Seeded per process and connection, so forked workers do not sleep in lockstep.
  const auto ticks = std::chrono::steady_clock::now().time_since_epoch().count();
  const auto seed = static_cast<std::uint_fast32_t>(static_cast<std::uint64_t>(ticks) ^
                                                    (static_cast<std::uint64_t>(::getpid()) << 20));
  std::unique_ptr<BusyWait, BusyWaitDeleter> busy(
      new BusyWait{busy_timeout, {}, std::minstd_rand(seed)});
  sqlite3_busy_handler(db.get(), busy_retry, busy.get());
  return Connection(std::move(db), std::move(busy));
}

Result<Query> Connection::query(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    // PERSISTENT: the statement lives as long as the connection; SQLite allocates accordingly.
    const int rc = sqlite3_prepare_v3(db_.get(), sql.c_str(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &raw, &tail);
    StmtPtr stmt(raw);
    if (rc != SQLITE_OK) return std::unexpected(db_error(db_.get(), rc, "preparing " + sql));
    if (!stmt) return fail("preparing an empty statement", EINVAL);
    it = cache_.emplace(sql, std::move(stmt)).first;
  }
  if (sqlite3_stmt_busy(it->second.get()) != 0) {
    return fail("statement already in use: " + sql, EBUSY);
  }
  return Query(db_.get(), it->second.get());
}

Result<void> Connection::exec(const char* sql) {
  const int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return std::unexpected(db_error(db_.get(), rc, sql));
  return {};
}

std::int64_t Connection::changes() const noexcept {
  return static_cast<std::int64_t>(sqlite3_changes64(db_.get()));
}

bool Connection::in_transaction() const noexcept {
  return sqlite3_get_autocommit(db_.get()) == 0;
}

// ---- Transaction ----

Result<Transaction> Transaction::begin(Connection& c) {
  if (auto r = c.exec("BEGIN IMMEDIATE"); !r) return std::unexpected(std::move(r.error()));
  return Transaction(&c);
}

Transaction::~Transaction() {
  // After some errors (SQLITE_FULL, IOERR, NOMEM) SQLite has already rolled back; ROLLBACK
  // then would fail, so ask first. A failed ROLLBACK leaves nothing better to do here.
  if (c_ != nullptr && c_->in_transaction()) (void)c_->exec("ROLLBACK");
}

Result<void> Transaction::commit() {
  if (c_ == nullptr) return fail("commit of a finished transaction", EINVAL);
  auto r = c_->exec("COMMIT");
  if (!r) return r;  // the destructor rolls back
  c_ = nullptr;
  return {};
}

}  // namespace soroka::jobs::sqlite

// RAII over the SQLite C API: a connection with cached prepared statements, queries and
// transactions, every failure returned as a Result.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "util/result.h"

namespace soroka::jobs::sqlite {

struct DbCloser {
  // close_v2: if a statement were still alive the handle becomes a zombie freed with it,
  // instead of leaking as plain close() would.
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// An error for result code `rc` on `db`: "<what>: <sqlite message> (sqlite code N)". The errno
// tells callers the class: EBUSY (locked past busy_timeout), ENOSPC, ENOMEM, EROFS, EACCES, the
// OS errno for I/O and open failures, EIO for everything else (corruption included).
Error db_error(sqlite3* db, int rc, std::string_view what);

// One bound use of a prepared statement. Bind errors are kept and reported by step(), so call
// sites can chain binds. The destructor resets the statement for the next use.
class Query {
 public:
  Query(sqlite3* db, sqlite3_stmt* stmt) noexcept : db_(db), stmt_(stmt) {}
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  Query(Query&& o) noexcept;
  Query& operator=(Query&&) = delete;
  ~Query();

  // Parameters are numbered from 1 (?1, ?2, ... in the SQL). Text is copied.
  Query& bind(int index, std::int64_t v);
  Query& bind(int index, double v);
  Query& bind(int index, std::string_view v);
  Query& bind(int index, const char* v) { return bind(index, std::string_view(v)); }
  Query& bind(int index, const std::string& v) { return bind(index, std::string_view(v)); }
  Query& bind_null(int index);
  template <class T>
  Query& bind(int index, const std::optional<T>& v) {
    return v ? bind(index, *v) : bind_null(index);
  }

  // true: a row is ready for the column getters; false: the statement finished.
  Result<bool> step();
  // Steps to the end, for statements whose rows (if any) do not matter.
  Result<void> run();

  // Columns are numbered from 0.
  bool is_null(int col) const noexcept;
  std::int64_t i64(int col) const noexcept;
  double f64(int col) const noexcept;
  std::string text(int col) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
  int bind_index_ = 0;
};

// One connection. Not thread-safe: the owner serialises calls (SqliteJobStore holds a mutex).
// Never use it in a child after fork(); SQLite's POSIX locks do not survive the copy.
class Connection {
 public:
  // Opens (creating if missing) and installs a busy handler that retries for up to
  // `busy_timeout`; pragmas are the caller's policy.
  static Result<Connection> open(const std::string& path, std::chrono::milliseconds busy_timeout);

  // A reset, ready-to-bind use of `sql`, prepared on first use and cached by its text.
  // Fails if the same statement is still in use by an unfinished Query.
  Result<Query> query(const std::string& sql);
  // Runs one or more statements with no parameters (DDL, pragmas, BEGIN/COMMIT).
  Result<void> exec(const char* sql);
  // Rows changed by the latest INSERT/UPDATE/DELETE on this connection.
  std::int64_t changes() const noexcept;
  bool in_transaction() const noexcept;
  sqlite3* get() const noexcept { return db_.get(); }

 private:
  struct BusyWait;  // the busy handler's state; heap-held so its address survives moves
  struct BusyWaitDeleter {
    void operator()(BusyWait* b) const noexcept;
  };
  Connection(DbPtr db, std::unique_ptr<BusyWait, BusyWaitDeleter> busy);
  static int busy_retry(void* wait, int count);
  std::unique_ptr<BusyWait, BusyWaitDeleter> busy_;  // outlives db_: the handler points to it
  DbPtr db_;  // declared before the cache so the cached statements are finalised first
  std::unordered_map<std::string, StmtPtr> cache_;
};

// BEGIN IMMEDIATE ... COMMIT. IMMEDIATE takes the database's write lock up front (waiting up to
// busy_timeout), so a transaction never reads a snapshot and then fails to upgrade it to a
// writer (SQLITE_BUSY_SNAPSHOT, which no timeout cures). Rolls back in the destructor unless
// committed, so an early `return fail(...)` undoes the transaction.
class Transaction {
 public:
  static Result<Transaction> begin(Connection& c);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  Transaction(Transaction&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  Result<void> commit();

 private:
  explicit Transaction(Connection* c) : c_(c) {}
  Connection* c_;
};

}  // namespace soroka::jobs::sqlite

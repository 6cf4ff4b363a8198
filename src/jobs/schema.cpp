// The job database schema: the ordered list of migrations and the code that applies them.
#include "jobs/schema.h"

#include <array>
#include <cerrno>
#include <string>

namespace soroka::jobs::schema {

namespace {

// kMigrations[i] takes the schema from version i to i + 1.
constexpr std::array<const char*, kVersion> kMigrations = {
    // 0 -> 1: the jobs table. STRICT (SQLite >= 3.37) makes column types binding, so a bug that
    // writes text into a time column fails instead of corrupting ordering. Times are Unix
    // milliseconds. `seq` is AUTOINCREMENT so a purged job's number is never handed out again.
    R"sql(
CREATE TABLE jobs (
  seq                  INTEGER PRIMARY KEY AUTOINCREMENT,
  id                   TEXT    NOT NULL UNIQUE,
  state                TEXT    NOT NULL
                       CHECK (state IN ('queued','running','succeeded','failed','cancelled')),
  kind                 TEXT    NOT NULL,
  params               TEXT    NOT NULL CHECK (json_valid(params)),
  submitter            TEXT    NOT NULL,
  dedup_key            TEXT,
  input_path           TEXT    NOT NULL,
  original_name        TEXT    NOT NULL,
  size_bytes           INTEGER NOT NULL CHECK (size_bytes >= 0),
  priority             INTEGER NOT NULL,
  attempts             INTEGER NOT NULL DEFAULT 0,
  max_attempts         INTEGER NOT NULL CHECK (max_attempts >= 1),
  degrade              INTEGER NOT NULL DEFAULT 0,
  runs                 INTEGER NOT NULL DEFAULT 0,
  last_error           TEXT    NOT NULL DEFAULT '',
  progress             REAL    NOT NULL DEFAULT 0,
  result_text          TEXT    NOT NULL DEFAULT '',
  result_path          TEXT    NOT NULL DEFAULT '',
  estimated_peak_bytes INTEGER NOT NULL DEFAULT 0,
  observed_peak_bytes  INTEGER NOT NULL DEFAULT 0,
  created_at           INTEGER NOT NULL,
  started_at           INTEGER,
  finished_at          INTEGER,
  updated_at           INTEGER NOT NULL,
  lease_node           TEXT,
  lease_pid            INTEGER,
  lease_expires_at     INTEGER,
  cancel_requested     INTEGER NOT NULL DEFAULT 0,
  -- A running job always has a lease; a finished one always has a finish time.
  CHECK (state <> 'running' OR (lease_node IS NOT NULL AND lease_expires_at IS NOT NULL)),
  CHECK (state NOT IN ('succeeded','failed','cancelled') OR finished_at IS NOT NULL)
) STRICT;

-- claim_next(): the head of the queue in one index step. Partial, so finished jobs (the bulk
-- of the table until purge) do not slow it down.
CREATE INDEX jobs_queue ON jobs (priority DESC, seq) WHERE state = 'queued';
-- recover(): running jobs by lease expiry.
CREATE INDEX jobs_running ON jobs (lease_expires_at) WHERE state = 'running';
-- purge(): finished jobs by age.
CREATE INDEX jobs_finished ON jobs (finished_at)
  WHERE state IN ('succeeded','failed','cancelled');
-- list() by submitter, newest first.
CREATE INDEX jobs_submitter ON jobs (submitter, seq);
CREATE UNIQUE INDEX jobs_dedup ON jobs (dedup_key) WHERE dedup_key IS NOT NULL;
)sql",
    // 1 -> 2: failure_kind, FailureKind's name (util/failure_kind.h): set while the job is
    // failed, 'none' in every other state. No CHECK on the names, so a kind added later needs
    // no migration (an unknown name reads as internal). Jobs that failed before kinds existed
    // are classified once here: the scheduler marked a user's bad input with the reason prefix
    // "invalid input: " (its only classification then); anything else becomes internal.
    R"sql(
ALTER TABLE jobs ADD COLUMN failure_kind TEXT NOT NULL DEFAULT 'none';
UPDATE jobs SET failure_kind = CASE WHEN instr(last_error, 'invalid input: ') > 0
                                    THEN 'invalid_input' ELSE 'internal' END
  WHERE state = 'failed';
)sql",
    // 2 -> 3: max_running_per_owner, how many of its submitter's jobs may run at once (0: no
    // limit); claim_next() skips a job whose submitter already has that many running. The
    // index counts a submitter's running jobs in one step.
    R"sql(
ALTER TABLE jobs ADD COLUMN max_running_per_owner INTEGER NOT NULL DEFAULT 0
  CHECK (max_running_per_owner >= 0);
CREATE INDEX jobs_running_owner ON jobs (submitter) WHERE state = 'running';
)sql",
};

Result<bool> has_tables(sqlite::Connection& c) {
  auto q = c.query("SELECT count(*) FROM sqlite_schema WHERE type = 'table'");
  if (!q) return std::unexpected(std::move(q.error()));
  auto row = q->step();
  if (!row) return std::unexpected(std::move(row.error()));
  return *row && q->i64(0) > 0;
}

}  // namespace

Result<int> user_version(sqlite::Connection& c) {
  auto q = c.query("PRAGMA user_version");
  if (!q) return std::unexpected(std::move(q.error()));
  auto row = q->step();
  if (!row) return std::unexpected(std::move(row.error()));
  if (!*row) return fail("PRAGMA user_version returned no row", EIO);
  return static_cast<int>(q->i64(0));
}

Result<int> migrate(sqlite::Connection& c) {
  // The common case, an up-to-date file, needs no write lock: opening must not queue behind
  // busy writers. Anything else is re-checked under the lock below.
  if (auto v = user_version(c); v && *v == kVersion) return v;
  auto txn = sqlite::Transaction::begin(c);
  if (!txn) return std::unexpected(std::move(txn.error()).with_context("migrating the schema"));
  auto found = user_version(c);  // read under the write lock: nobody migrates meanwhile
  if (!found) return found;
  if (*found > kVersion) {
    return fail("database schema version " + std::to_string(*found) +
                    " is newer than this build understands (" + std::to_string(kVersion) +
                    "); upgrade soroka or point it at another state dir",
                EPROTO);
  }
  if (*found == kVersion) return found;  // nothing to do; the destructor ends the transaction
  if (*found == 0) {
    auto tables = has_tables(c);
    if (!tables) return std::unexpected(std::move(tables.error()));
    if (*tables) return fail("the file holds tables but no soroka schema version", EPROTO);
  }
  for (int v = *found; v < kVersion; ++v) {
    auto r = c.exec(kMigrations[static_cast<std::size_t>(v)]);
    if (!r) {
      return std::unexpected(std::move(r.error()).with_context(
          "migrating schema " + std::to_string(v) + " -> " + std::to_string(v + 1)));
    }
  }
  // PRAGMA takes no bound parameters; the number is ours, not user input.
  const std::string set = "PRAGMA user_version = " + std::to_string(kVersion);
  if (auto r = c.exec(set.c_str()); !r) return std::unexpected(std::move(r.error()));
  if (auto r = txn->commit(); !r) return std::unexpected(std::move(r.error()));
  return found;
}

}  // namespace soroka::jobs::schema

// The job database schema and its migrations, versioned with PRAGMA user_version.
#pragma once

#include "jobs/sqlite_db.h"
#include "util/result.h"

namespace soroka::jobs::schema {

// The version this build writes. Bump it by appending a migration, never by editing one:
// databases in the field have already run the old ones.
inline constexpr int kVersion = 3;

// PRAGMA user_version of the open database (0 for a new or empty file).
Result<int> user_version(sqlite::Connection& c);

// Brings the database to kVersion inside one IMMEDIATE transaction, so of several processes
// opening a fresh file at once exactly one migrates and the others find nothing to do, and a
// crash mid-migration leaves the old version intact. Refuses a database written by a newer
// build, and a version-0 file that already holds tables (some other application's database).
// Returns the version found before migrating.
Result<int> migrate(sqlite::Connection& c);

}  // namespace soroka::jobs::schema

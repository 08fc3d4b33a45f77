#include "store/schema.h"

#include <array>
#include <memory>

namespace kairos::store::detail {
namespace {

// Step i brings user_version from i to i+1. Append new steps; never edit a released one.
//
// v1: the public schema (docs/history.md).
//   - Times are INTEGER Unix milliseconds (UTC).
//   - missed_count/missed_until: a `missed` row stands for missed_count firings, from
//     scheduled_at to missed_until, so a long outage costs one row, not one per firing.
//   - runs_job_id serves "latest runs of a job" (scanned backwards: newest first).
//   - runs_status_time serves "runs by status since T"; a run's time is its scheduled
//     instant, or its start when it has none. It is an expression index, so queries must
//     use the same expression to benefit (history() does).
//   - attempts cascade with their run (foreign_keys=ON is set on every connection).
constexpr const char* kV1 = R"sql(
CREATE TABLE runs(
  id INTEGER PRIMARY KEY,
  job TEXT NOT NULL,
  "trigger" TEXT NOT NULL,
  scheduled_at INTEGER,
  started_at INTEGER,
  finished_at INTEGER,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  exit_code INTEGER,
  signal INTEGER,
  error TEXT,
  missed_count INTEGER NOT NULL DEFAULT 0,
  missed_until INTEGER
);
CREATE INDEX runs_job_id ON runs(job, id);
CREATE INDEX runs_status_time ON runs(status, coalesce(scheduled_at, started_at));
CREATE TABLE attempts(
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  attempt INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  status TEXT NOT NULL,
  exit_code INTEGER,
  signal INTEGER,
  output BLOB,
  output_truncated INTEGER NOT NULL DEFAULT 0,
  error TEXT,
  PRIMARY KEY (run_id, attempt)
);
CREATE TABLE job_state(
  job TEXT PRIMARY KEY,
  anchor INTEGER,
  last_fired INTEGER,
  paused INTEGER NOT NULL DEFAULT 0
);
)sql";

constexpr std::array<const char*, 1> kMigrations = {kV1};

}  // namespace

int latest_schema_version() {
  return static_cast<int>(kMigrations.size());
}

int schema_version(Connection& db) {
  Statement st(db.get(), "PRAGMA user_version");
  auto q = st.use();
  return q.step() ? static_cast<int>(q.int64(0)) : 0;
}

bool migrate(Connection& db, std::string* error) {
  const int latest = latest_schema_version();
  for (;;) {
    // Read the version inside the write transaction: two processes opening a fresh file at
    // once must not both apply step 1.
    db.exec("BEGIN IMMEDIATE");
    try {
      int v = schema_version(db);
      if (v > latest) {
        db.exec("ROLLBACK");
        *error = "history schema version " + std::to_string(v) +
                 " is newer than this kairos understands (" + std::to_string(latest) +
                 "); refusing to open it (upgrade kairos or use another database)";
        return false;
      }
      if (v == latest) {
        db.exec("COMMIT");
        return true;
      }
      db.exec(kMigrations[static_cast<std::size_t>(v)]);
      // user_version lives in the database header and is written by this transaction.
      db.exec(("PRAGMA user_version = " + std::to_string(v + 1)).c_str());
      db.exec("COMMIT");
    } catch (...) {
      if (!sqlite3_get_autocommit(db.get()))
        sqlite3_exec(db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }
}

bool virtual_tables_usable(Connection& db, std::string* error) {
  Statement tables(db.get(),
                   "SELECT name FROM sqlite_schema "
                   "WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'");
  auto q = tables.use();
  while (q.step()) {
    std::string name = q.bytes(0);
    // Opening a virtual table connects it to its module, so this fails when the module is
    // missing; LIMIT 0 reads nothing. %w quotes the name as an identifier.
    std::unique_ptr<char, void (*)(void*)> sql(
        sqlite3_mprintf("SELECT 1 FROM \"%w\" LIMIT 0", name.c_str()), &sqlite3_free);
    if (!sql) throw Error("out of memory", SQLITE_NOMEM);
    std::string why;
    try {
      Statement probe(db.get(), sql.get());
    } catch (const Error&) {
      why = sqlite3_errmsg(db.get());
    }
    if (!why.empty()) {
      *error = "virtual table \"" + name + "\" cannot be opened (" + why + "); " +
#ifdef KAIROS_SQLITE_WITHOUT_FTS_RTREE
               "kairosd's SQLite has no FTS or R-tree modules: " +
#endif
               "move the table to a database file of its own and ATTACH it where you query";
      return false;
    }
  }
  return true;
}

}  // namespace kairos::store::detail

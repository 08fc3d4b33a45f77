// The history schema and its migrations (PRAGMA user_version).
//
// The schema is public (docs/history.md): a migration may add tables, columns and indexes,
// never rename or change the meaning of existing ones.
#pragma once

#include <string>

#include "store/statement.h"

namespace kairos::store::detail {

/// The newest schema version this code knows (the number of migration steps).
int latest_schema_version();

/// Brings the database to latest_schema_version(), one transaction per step.
/// Returns false and sets *error when the file was written by a newer kairos (its
/// user_version is higher than ours): we must not write to a schema we do not understand.
/// Throws Error on SQLite failures.
bool migrate(Connection& db, std::string* error);

/// PRAGMA user_version.
int schema_version(Connection& db);

/// Whether every virtual table in the file opens with this build's SQLite, which has no FTS
/// or R-tree modules (sqlite_builtins.cc). A trigger on the history tables that writes to
/// one it cannot open would fail every write of the daemon's, so the file is refused up
/// front, with *error naming the table and what to do. Throws Error on SQLite failures.
bool virtual_tables_usable(Connection& db, std::string* error);

}  // namespace kairos::store::detail

#include "store/statement.h"

#include <string>
#include <utility>

namespace kairos::store::detail {

void throw_error(sqlite3* db, int rc, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  // The connection's message describes its latest failure, which is this one: we throw
  // right after the failing call.
  msg += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  throw Error(std::move(msg), rc);
}

Connection::~Connection() {
  // sqlite3_close_v2 would defer the close while statements live; plain close reports it.
  // Statements are members declared after the connection, so they are already gone.
  if (db_ != nullptr) sqlite3_close(db_);
}

Connection& Connection::operator=(Connection&& o) noexcept {
  if (this != &o) {
    if (db_ != nullptr) sqlite3_close(db_);
    db_ = std::exchange(o.db_, nullptr);
  }
  return *this;
}

void Connection::exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = std::string("exec: ") + (err != nullptr ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    throw Error(std::move(msg), rc);
  }
}

Statement::Statement(sqlite3* db, std::string_view sql) : db_(db) { prepare(sql); }

Statement Statement::deferred(sqlite3* db, std::string sql) {
  Statement s;
  s.db_ = db;
  s.sql_ = std::move(sql);
  return s;
}

void Statement::prepare(std::string_view sql) {
  // SQLITE_PREPARE_PERSISTENT: these statements live as long as the connection.
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  if (rc != SQLITE_OK) throw_error(db_, rc, "prepare \"" + std::string(sql) + "\"");
}

void Statement::prepare_deferred() {
  prepare(sql_);
  sql_ = std::string();  // its memory back: the statement holds its own copy
}

void Statement::release() {
  if (stmt_ == nullptr) return;
  sql_ = sqlite3_sql(stmt_);
  sqlite3_finalize(stmt_);
  stmt_ = nullptr;
}

Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    sqlite3_finalize(stmt_);
    db_ = o.db_;
    stmt_ = std::exchange(o.stmt_, nullptr);
    sql_ = std::move(o.sql_);
  }
  return *this;
}

void Statement::Use::check_bind(int rc, int i) {
  if (rc != SQLITE_OK) throw_error(s_.db_, rc, "bind parameter " + std::to_string(i));
}

Statement::Use& Statement::Use::bind(int i, std::int64_t v) {
  check_bind(sqlite3_bind_int64(s_.stmt_, i, v), i);
  return *this;
}

Statement::Use& Statement::Use::bind(int i, std::optional<std::int64_t> v) {
  return v ? bind(i, *v) : bind_null(i);
}

Statement::Use& Statement::Use::bind_text(int i, std::string_view v, bool empty_is_null) {
  if (empty_is_null && v.empty()) return bind_null(i);
  check_bind(sqlite3_bind_text64(s_.stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
             i);
  return *this;
}

Statement::Use& Statement::Use::bind_blob(int i, std::string_view v) {
  // sqlite3_bind_blob with a null pointer binds NULL, so an empty output needs zeroblob(0).
  int rc = v.empty() ? sqlite3_bind_zeroblob(s_.stmt_, i, 0)
                     : sqlite3_bind_blob64(s_.stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT);
  check_bind(rc, i);
  return *this;
}

Statement::Use& Statement::Use::bind_null(int i) {
  check_bind(sqlite3_bind_null(s_.stmt_, i), i);
  return *this;
}

bool Statement::Use::step() {
  int rc = sqlite3_step(s_.stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  throw_error(s_.db_, rc, sqlite3_sql(s_.stmt_));
}

std::int64_t Statement::Use::run() {
  while (step()) {
  }
  return sqlite3_changes64(s_.db_);
}

std::optional<std::int64_t> Statement::Use::opt_int64(int col) const {
  if (is_null(col)) return std::nullopt;
  return int64(col);
}

std::string Statement::Use::bytes(int col) const {
  // Ask for the blob first, then its size (SQLite's documented order for conversions).
  const void* p = sqlite3_column_blob(s_.stmt_, col);
  int n = sqlite3_column_bytes(s_.stmt_, col);
  if (p == nullptr || n <= 0) return {};
  return std::string(static_cast<const char*>(p), static_cast<std::size_t>(n));
}

}  // namespace kairos::store::detail

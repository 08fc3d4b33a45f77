// RAII owners for a SQLite connection and its prepared statements.
//
// Internal to lib/store: callers of the history use store.h only. Every SQLite error that
// reaches these helpers is unexpected (the SQL is ours and fixed), so they throw store::Error.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "store/store.h"

namespace kairos::store::detail {

/// Throws store::Error("<what>: <sqlite message>") for a result code that is not OK/ROW/DONE.
[[noreturn]] void throw_error(sqlite3* db, int rc, std::string_view what);

/// Owns one sqlite3 connection; closes it in the destructor. Statements must be destroyed
/// first (sqlite3_close refuses to close with live statements), which member order ensures.
class Connection {
 public:
  Connection() = default;
  explicit Connection(sqlite3* db) : db_(db) {}
  ~Connection();
  Connection(Connection&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  Connection& operator=(Connection&& o) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* get() const { return db_; }
  /// Runs one or more statements without results (DDL, pragmas, BEGIN/COMMIT).
  void exec(const char* sql);

 private:
  sqlite3* db_ = nullptr;
};

/// One prepared statement, prepared once and reused; finalized in the destructor.
/// Use it through a Statement::Use scope, which resets it (and clears bindings) when the
/// scope ends, so a half-read SELECT never keeps a read transaction (and the WAL) pinned.
class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, std::string_view sql);
  /// Prepared at its first use(): a statement costs its connection about 4 KB, and each of
  /// the daemon's connections uses only some of a Store's statements.
  static Statement deferred(sqlite3* db, std::string sql);
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(Statement&& o) noexcept
      : db_(o.db_), stmt_(o.stmt_), sql_(std::move(o.sql_)) {
    o.stmt_ = nullptr;
  }
  Statement& operator=(Statement&& o) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  class Use {
   public:
    explicit Use(Statement& s) : s_(s) {}
    ~Use() {
      sqlite3_reset(s_.stmt_);
      sqlite3_clear_bindings(s_.stmt_);
    }
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;

    // Parameters are 1-based, as in SQLite.
    Use& bind(int i, std::int64_t v);
    Use& bind(int i, std::optional<std::int64_t> v);
    /// Text; an empty string binds NULL when empty_is_null (the schema's "no error" value).
    Use& bind_text(int i, std::string_view v, bool empty_is_null = false);
    /// BLOB; always a blob (possibly zero-length), never NULL.
    Use& bind_blob(int i, std::string_view v);
    Use& bind_null(int i);

    /// Advances; true while a row is available, false when done. Throws on error.
    bool step();
    /// Runs a statement that returns no rows; returns sqlite3_changes().
    std::int64_t run();

    std::int64_t int64(int col) const { return sqlite3_column_int64(s_.stmt_, col); }
    std::optional<std::int64_t> opt_int64(int col) const;
    bool is_null(int col) const { return sqlite3_column_type(s_.stmt_, col) == SQLITE_NULL; }
    /// TEXT or BLOB column as bytes (NULL → empty).
    std::string bytes(int col) const;

   private:
    void check_bind(int rc, int i);
    Statement& s_;
  };

  Use use() {
    if (stmt_ == nullptr) prepare_deferred();
    return Use(*this);
  }
  /// Finalizes it, keeping its SQL: the next use() prepares it again. Frees what a statement
  /// that is rarely or never used again (a start-up query) holds. Not inside a Use scope.
  void release();
  /// Whether it was created (deferred or not); false for a default-constructed one.
  explicit operator bool() const { return stmt_ != nullptr || !sql_.empty(); }

 private:
  void prepare(std::string_view sql);
  void prepare_deferred();
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;  // a deferred statement's SQL until it is prepared
};

}  // namespace kairos::store::detail

// Run history in SQLite (WAL). The schema is public (docs/history.md):
// users query it with sqlite3, so names and meanings never change.
//
// All calls are synchronous and cheap (WAL, synchronous=NORMAL, prepared statements). A
// Store is one connection, for one thread at a time: the daemon writes through one on its
// history thread, grouping each batch in a Transaction (below), and reads through another
// on its loop.
//
// Errors: open() reports an unusable file as a value (nullptr + message). After that, the
// expected cases are values too (an unknown run id reads as nullopt, updates of an unknown
// id change nothing). Every other call throws store::Error only for an unexpected SQLite
// failure: disk full, I/O error, corrupt file, a lock held by another writer for longer than
// the busy timeout, or a constraint broken by a caller bug (an attempt for a run id that
// does not exist, the same attempt inserted twice). The destructor never throws.
#pragma once

#include <cstdint>
#include <functional>
#include <exception>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "store/words.h"

namespace kairos::store {

/// An unexpected SQLite failure; what() carries SQLite's message, code() its result code.
class Error : public std::runtime_error {
 public:
  Error(std::string message, int code) : std::runtime_error(std::move(message)), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

/// Unix milliseconds, UTC (the schema's time unit).
using Millis = std::int64_t;

struct RunRow {
  std::int64_t id = 0;
  std::string job;
  Trigger trigger = Trigger::manual;
  std::optional<Millis> scheduled_at;
  std::optional<Millis> started_at;
  std::optional<Millis> finished_at;
  RunStatus status = RunStatus::queued;
  std::int64_t attempts = 0;
  std::optional<std::int64_t> exit_code;
  std::optional<std::int64_t> signal;
  std::string error;
  std::int64_t missed_count = 0;       // status missed: how many firings this row stands for
  std::optional<Millis> missed_until;  // status missed: the last of them
};

struct AttemptRow {
  std::int64_t run_id = 0;
  std::int64_t attempt = 0;  // 1-based
  std::optional<Millis> started_at;
  std::optional<Millis> finished_at;
  RunStatus status = RunStatus::running;
  std::optional<std::int64_t> exit_code;
  std::optional<std::int64_t> signal;
  std::string output;  // tail of stdout+stderr
  bool output_truncated = false;
  std::string error;
};

/// Per-job state that must survive restarts.
struct JobState {
  std::string job;
  std::optional<Millis> anchor;      // `every` phase origin
  std::optional<Millis> last_fired;  // latest firing (scheduled instant) that was handled
  bool paused = false;
};

struct HistoryFilter {
  std::optional<std::string> job;
  std::optional<RunStatus> status;
  std::optional<Millis> since;  // runs whose scheduled_at (or started_at) >= since
  std::int64_t limit = 50;
};

class Store {
 public:
  /// Opens or creates the database, applies migrations. On failure returns nullptr and
  /// sets *error ("history.db: unable to open database file").
  static std::unique_ptr<Store> open(const std::string& path, std::string* error);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// Start-up recovery: rows still `running` or `queued` (runs and attempts) become
  /// `interrupted` with finished_at = now and error
  /// "kairosd stopped while the run was active" (kInterruptedError).
  /// Returns how many runs changed.
  std::int64_t recover_interrupted(Millis now);

  // --- writes -----------------------------------------------------------------------
  /// New run row; returns its id: row.id when it is not 0 (the daemon assigns ids itself),
  /// else the next free one. status is usually queued or running.
  std::int64_t insert_run(const RunRow& row);
  void set_run_status(std::int64_t run_id, RunStatus status,
                      std::optional<Millis> started_at);
  /// Final state of a run: status, finished_at, attempts, exit_code, signal, error.
  void finish_run(const RunRow& row);
  /// Removes a run that never started (a row written ahead of a firing that then did
  /// not happen: shutdown, clock step). Its attempts go with it.
  void delete_run(std::int64_t run_id);
  void insert_attempt(const AttemptRow& row);  // at attempt start (status running)
  void finish_attempt(const AttemptRow& row);  // at attempt end (with output)
  void put_job_state(const JobState& state);
  /// Deletes old rows: keeps at most keep_per_job runs per job (0 = no count limit) and none
  /// older than now - keep_for_ms (0 = no age limit); a run's age is its scheduled_at, or
  /// started_at when it has none. Attempts go with their run; queued and running runs are
  /// never deleted. Deletes at most max_delete runs (oldest first within each job), so a huge
  /// backlog can be pruned in slices that never hold the writer for long (the cost per run
  /// is in docs/PERFORMANCE.md). A return value equal to max_delete means "call again".
  /// Returns the number of runs deleted.
  std::int64_t prune(std::int64_t keep_per_job, Millis keep_for_ms, Millis now,
                     std::int64_t max_delete = std::numeric_limits<std::int64_t>::max());

  // --- reads ------------------------------------------------------------------------
  std::optional<JobState> job_state(const std::string& job);
  std::optional<RunRow> run(std::int64_t run_id);
  std::vector<RunRow> history(const HistoryFilter& filter);  // newest first
  std::vector<AttemptRow> attempts(std::int64_t run_id);     // attempt order
  /// The newest finished run of a job (not skipped/missed), for `kairosctl list`.
  std::optional<RunRow> last_result(const std::string& job);
  /// The job's last firing on record: the scheduled_at of its newest run that a schedule
  /// made (the end of a `missed` row's span), for catch-up. Rows are written in firing
  /// order, so that is the latest; manual runs do not count.
  std::optional<Millis> last_scheduled(const std::string& job);
  /// The largest run id in the table (0 when it is empty).
  std::int64_t max_run_id();
  /// Drops this connection's cached pages (sqlite3_db_release_memory) and its prepared
  /// statements, which are prepared again at their next use: after start-up reads.
  void release_memory();

  // --- batching -----------------------------------------------------------------------
  void begin();  // BEGIN IMMEDIATE (nesting is counted; only the outermost commits)
  /// Ends one level; the outermost issues COMMIT. If COMMIT fails (disk full, I/O), the
  /// transaction is rolled back and Error thrown. If an inner level called rollback(), the
  /// outermost commit rolls everything back and throws Error instead of committing.
  void commit();
  /// Ends one level and abandons the transaction: the outermost level issues ROLLBACK; an
  /// inner level marks it so that nothing of it is committed. Never throws.
  void rollback() noexcept;
  /// Current nesting depth (0 = no transaction open).
  int transaction_depth() const;

  // --- checkpoints --------------------------------------------------------------------
  /// Turns off SQLite's automatic checkpoint, which runs inside the commit, before the
  /// caller learns that the commit is done. `hook` is called after every commit with the
  /// WAL's size in pages; the caller then runs checkpoint() when it suits it. The hook must
  /// not use this Store.
  void on_wal_commit(std::function<void(int wal_pages)> hook);
  /// A PASSIVE checkpoint through this connection, outside a transaction: copies the WAL
  /// into the database file and syncs it, never waiting for readers. When this connection
  /// is the only writer, the WAL is then fully copied and the next commit starts it over.
  bool checkpoint(std::string* error);

  /// Text recover_interrupted() writes into `error`.
  static constexpr const char* kInterruptedError = "kairosd stopped while the run was active";

  /// RAII transaction: commits when the outermost one leaves scope normally; when the scope
  /// is left by an exception it rolls back instead (so a half-done batch is never committed).
  /// The destructor may throw Error when COMMIT fails (never while unwinding).
  class Transaction {
   public:
    explicit Transaction(Store& s) : s_(s), unwinding_(std::uncaught_exceptions()) { s_.begin(); }
    ~Transaction() noexcept(false) {
      if (std::uncaught_exceptions() > unwinding_) {
        s_.rollback();
      } else {
        s_.commit();
      }
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

   private:
    Store& s_;
    int unwinding_;
  };

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kairos::store

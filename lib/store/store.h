// Run history in SQLite (WAL). The schema is public (docs/history.md, DESIGN.md
// "History schema"): users query it with sqlite3, so names and meanings never change.
//
// All calls are synchronous and cheap (WAL, synchronous=NORMAL, prepared statements);
// the daemon groups the writes of one loop iteration in one transaction with
// Transaction below, so a burst of firings costs one commit.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kairos::store {

/// Unix milliseconds, UTC (the schema's time unit).
using Millis = std::int64_t;

struct RunRow {
  std::int64_t id = 0;
  std::string job;
  std::string trigger;  // schedule | manual | catch_up
  std::optional<Millis> scheduled_at;
  std::optional<Millis> started_at;
  std::optional<Millis> finished_at;
  std::string status;  // queued running succeeded failed timed_out cancelled skipped missed interrupted
  std::int64_t attempts = 0;
  std::optional<std::int64_t> exit_code;
  std::optional<std::int64_t> signal;
  std::string error;
  std::int64_t missed_count = 0;            // status missed: how many firings this row stands for
  std::optional<Millis> missed_until;       // status missed: the last of them
};

struct AttemptRow {
  std::int64_t run_id = 0;
  std::int64_t attempt = 0;  // 1-based
  std::optional<Millis> started_at;
  std::optional<Millis> finished_at;
  std::string status;
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
  std::optional<std::string> status;
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
  /// `interrupted` with finished_at = now and error "daemon stopped unexpectedly".
  /// Returns how many runs changed.
  std::int64_t recover_interrupted(Millis now);

  // --- writes -----------------------------------------------------------------------
  /// New run row; returns its id. status is usually queued or running.
  std::int64_t insert_run(const RunRow& row);
  void set_run_status(std::int64_t run_id, const std::string& status,
                      std::optional<Millis> started_at);
  /// Final state of a run: status, finished_at, attempts, exit_code, signal, error.
  void finish_run(const RunRow& row);
  void insert_attempt(const AttemptRow& row);  // at attempt start (status running)
  void finish_attempt(const AttemptRow& row);  // at attempt end (with output)
  void put_job_state(const JobState& state);
  /// Deletes old rows: keeps at most keep_per_job runs per job and none older than
  /// now - keep_for_ms (0 = no age limit). Returns rows deleted.
  std::int64_t prune(std::int64_t keep_per_job, Millis keep_for_ms, Millis now);

  // --- reads ------------------------------------------------------------------------
  std::optional<JobState> job_state(const std::string& job);
  std::optional<RunRow> run(std::int64_t run_id);
  std::vector<RunRow> history(const HistoryFilter& filter);  // newest first
  std::vector<AttemptRow> attempts(std::int64_t run_id);     // attempt order
  /// The newest finished run of a job (not skipped/missed), for `kairosctl list`.
  std::optional<RunRow> last_result(const std::string& job);
  /// The newest scheduled_at of any run of the job (for catch-up when no job_state).
  std::optional<Millis> last_scheduled(const std::string& job);

  // --- batching -----------------------------------------------------------------------
  void begin();   // BEGIN IMMEDIATE (nesting is counted; only the outermost commits)
  void commit();

  /// RAII transaction: commits when the outermost one leaves scope.
  class Transaction {
   public:
    explicit Transaction(Store& s) : s_(s) { s_.begin(); }
    ~Transaction() { s_.commit(); }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

   private:
    Store& s_;
  };

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kairos::store

// RunLedger: the one owner of runs, live and recorded. The scheduler and the runner tell
// it what happens to a run; the control API asks it what happened, and gets the answer as
// the daemon sees it now (an active run from its live state, the rest from the history).
//
// How the record is kept is its own business: rows go to SQLite through History's writer
// thread in batches, some writes are deferred a little (History), and a scheduled firing's
// row is written a moment ahead of its instant and committed by the time it is due, so that
// at the instant only the spawn is left (a run's row must exist before its process does).
// A firing written ahead can be cancelled before its instant; the ledger remembers that and
// ends its row `cancelled` instead of starting it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "async/clock.h"
#include "async/loop.h"
#include "async/sync.h"
#include "async/task.h"
#include "daemon/history.h"
#include "daemon/run.h"
#include "schedule/catch_up.h"
#include "store/store.h"

namespace kairos::daemon {

class RunLedger {
 public:
  /// `reader` serves queries on the loop; `writer` is handed to the history thread.
  RunLedger(async::Loop& loop, async::Clock& clock, store::Store& reader,
            std::unique_ptr<store::Store> writer, std::string db_path);
  ~RunLedger();
  RunLedger(const RunLedger&) = delete;
  RunLedger& operator=(const RunLedger&) = delete;

  // --- firings --------------------------------------------------------------------------
  /// A scheduled firing on its way. The job's loop sleeps until wake_at() and calls woke()
  /// each time, until woke() says the instant has come; the ledger uses the earlier wake-ups
  /// to prepare the firing's record. Plain data, so a sleeping job holds no more than this.
  struct Firing {
    Millis due = 0;
    std::int64_t reserved = 0;  // the firing's row, once written
    std::uint64_t batch = 0;    // the history batch that holds it
  };
  /// The next instant the loop of the firing must wake at.
  async::Clock::TimePoint wake_at(const Firing& f) const;
  /// The loop woke at wake_at(f); true when the firing's instant has come.
  bool woke(Firing& f, const Job& job);
  /// Resumes once the firing's row is committed (at once, nearly always: it was written
  /// ahead). The caller then open()s the run, record_not_started()s it, or release()s it.
  History::Durable committed(const Firing& f) { return history_.durable(f.batch); }
  /// A firing that does not happen after all (paused, stopped, clock step): its row goes.
  void release(Firing& f);

  // --- runs -----------------------------------------------------------------------------
  /// A run begins (row `queued`: the reserved one, or a new one). nullptr when the reserved
  /// firing was cancelled before its instant: its row then ends `cancelled`.
  std::shared_ptr<Run> open(const std::shared_ptr<Job>& job, Trigger trigger, Millis scheduled_at,
                            std::int64_t reserved = 0);
  std::shared_ptr<Run> open(const std::shared_ptr<Job>& job, const Firing& f) {
    return open(job, Trigger::schedule, f.due, f.reserved);
  }
  /// A firing that does not start (refused by the overlap policy): its row ends `status`.
  std::int64_t record_not_started(const Job& job, Trigger trigger, Millis scheduled_at,
                                  RunStatus status, const std::string& why,
                                  std::int64_t reserved = 0);
  /// Firings the daemon was not there for, as one `missed` row.
  std::int64_t record_missed(const Job& job, const schedule::Missed& missed);
  /// Resumes once the run's row is committed: call it before the run's first process exists.
  async::Task<void> durable(const Run& run);
  /// An attempt begins (n = 1, 2, …).
  void attempt_started(Run& run, int n);
  /// A retry waits for a slot again: the run shows `queued` until its attempt starts.
  void requeued(Run& run);
  void attempt_finished(const Run& run, store::AttemptRow row);
  /// The run's end: final row recorded, live entry dropped.
  void finish(Run& run, store::RunRow row);

  // --- cancellation ---------------------------------------------------------------------
  enum class Cancel { requested, ended, unknown };
  /// Cancels an active run, or a firing whose row was written ahead; `ended` if the run is
  /// over, `unknown` if there is no such run.
  Cancel cancel(std::int64_t run_id, const std::string& reason);
  /// Every active run of `job` and its firing written ahead; returns their ids.
  std::vector<std::int64_t> cancel_job(const Job& job, const std::string& reason);
  void cancel_all(const std::string& reason);

  // --- live view ------------------------------------------------------------------------
  std::shared_ptr<Run> find(std::int64_t run_id) const;
  std::vector<std::shared_ptr<Run>> active() const;
  std::size_t active_count() const { return runs_.size(); }
  /// Set while no run is active.
  async::Event& idle() { return idle_; }

  // --- queries (the history caught up with everything the loop has written) -------------
  async::Task<std::optional<store::RunRow>> run(std::int64_t run_id);
  async::Task<std::vector<store::RunRow>> history(store::HistoryFilter filter);
  struct Logs {
    store::RunRow run;
    std::vector<store::AttemptRow> attempts;
  };
  async::Task<std::optional<Logs>> logs(std::int64_t run_id);
  /// The newest result of each job (nullopt: none yet), in the order asked.
  async::Task<std::vector<std::optional<store::RunRow>>> last_results(
      std::vector<std::string> jobs);

  // --- job state that survives restarts -------------------------------------------------
  std::optional<store::JobState> job_state(const std::string& job);
  /// The job's last firing on record (its newest scheduled row), for catch-up.
  std::optional<Millis> last_scheduled(const std::string& job);
  /// `soon`: after an ordinary firing, whose row already tells it; may be written late.
  void save_job_state(store::JobState state, bool soon);

  /// Old runs beyond `retention` are pruned a slice at a time as runs finish.
  void set_retention(const config::HistoryRetention& retention) { retention_ = retention; }

  /// Blocks until everything written is committed (reload: a job added back reads its state),
  /// then hands the memory the read connection cached back.
  void flush_and_trim();
  /// Commits everything and stops the writer (shutdown); logs the writer's figures.
  void close();

 private:
  struct Reservation {
    std::string job;
    Millis due = 0;
    std::optional<std::string> cancelled;  // the reason, once cancelled ahead
  };
  std::int64_t insert_queued(const std::string& job, Trigger trigger, Millis scheduled_at);
  /// A stored row as the daemon sees it now: an active run from its live state.
  store::RunRow now(store::RunRow row) const;
  async::Task<void> caught_up();

  async::Clock& clock_;
  store::Store& reader_;
  History history_;
  struct Entry {
    std::shared_ptr<Run> run;
    std::uint64_t row_batch = 0;  // the history batch that holds its row (0: committed)
  };
  std::map<std::int64_t, Entry> runs_;
  std::map<std::int64_t, Reservation> reserved_;
  async::Event idle_;
  config::HistoryRetention retention_;
  std::uint64_t finished_since_prune_ = 0;
};

}  // namespace kairos::daemon

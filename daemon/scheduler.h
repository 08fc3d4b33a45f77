// Scheduler: one coroutine per job computes the next firing, sleeps until it on the
// wall timer, and fires: the overlap policy decides whether a run starts, waits,
// replaces the running one, or is recorded `skipped`. Firings that fell while the
// daemon was down (or were jumped over by a clock step) go through the catch-up
// policy. Reload applies a new config as a diff.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "async/scope.h"
#include "async/task.h"
#include "async/wall_timer.h"
#include "config/job_spec.h"
#include "daemon/history.h"
#include "daemon/job.h"
#include "daemon/runner.h"

namespace kairos::daemon {

/// Why fire() did not start a run.
struct Refusal {
  std::string message;        // "job 'x' is already running (run 12) and its policy is forbid"
  std::int64_t blocking_run = 0;
};

struct ReloadDiff {
  std::vector<std::string> added, removed, changed, unchanged;
};

class IdentityCache;

/// Most catch-up runs a single outage can start for `catch_up: all`.
inline constexpr std::int64_t kMaxCatchUpRuns = 100;

class Scheduler {
 public:
  Scheduler(async::WallTimer& wall, History& history, Runner& runner, async::AsyncScope& scope);
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  /// Loads jobs (first config) and starts their loops. Throws for a job whose
  /// definition cannot be planned (the loader rejects those first).
  void start(const config::Config& cfg);
  /// Applies a new, already validated config as a diff.
  ReloadDiff apply(const config::Config& cfg);
  /// Stops every firing loop (shutdown); runs are left to the caller.
  void stop_firing();

  /// A run of `job` now (trigger manual), honouring its overlap policy unless `force`.
  std::variant<std::shared_ptr<Run>, Refusal> run_now(const std::string& job, bool force);
  /// Cancels one run; false if it is unknown or already finished. A scheduled firing whose
  /// row is already written (`queued`, up to 60 ms before its instant) is cancelled too: at
  /// its instant it is recorded `cancelled` instead of starting.
  bool cancel_run(std::int64_t run_id, const std::string& reason);
  /// Cancels every active run of a job, and its firing written ahead if there is one;
  /// returns their ids.
  std::vector<std::int64_t> cancel_job(const std::string& job, const std::string& reason);
  void cancel_all(const std::string& reason);
  /// Pause stops new firings; resume does not replay what was skipped meanwhile.
  /// nullopt if no such job, else whether the state changed.
  std::optional<bool> set_paused(const std::string& job, bool paused);

  std::shared_ptr<Job> find(const std::string& name) const;
  std::shared_ptr<Run> find_run(std::int64_t id) const;
  const std::vector<std::shared_ptr<Job>>& jobs() const { return order_; }
  std::size_t active_runs() const { return runs_.size(); }
  std::vector<std::shared_ptr<Run>> active() const;
  /// Completes when no run is active.
  async::Event& idle() { return idle_; }
  /// Called by the runner when a run has finished.
  void on_run_finished(Run& run);

 private:
  std::shared_ptr<Job> make_job(const config::JobSpec& spec, Millis now,
                                const std::shared_ptr<Job>& previous, IdentityCache& identities);
  void launch(const std::shared_ptr<Job>& job);
  Task<void> job_loop(std::shared_ptr<Job> job);
  /// Fires one firing under the overlap policy.
  void fire(const std::shared_ptr<Job>& job, Millis scheduled_at, const std::string& trigger,
            std::int64_t prewritten = 0);
  std::variant<std::shared_ptr<Run>, Refusal> admit(const std::shared_ptr<Job>& job,
                                                    Millis scheduled_at,
                                                    const std::string& trigger, bool force,
                                                    bool record_skip,
                                                    std::int64_t prewritten = 0);
  std::shared_ptr<Run> begin_run(const std::shared_ptr<Job>& job, Millis scheduled_at,
                                 const std::string& trigger, std::int64_t prewritten);
  /// At the instant of a firing written ahead: if it was cancelled meanwhile, its row ends
  /// `cancelled` and true is returned (it must not start).
  bool end_if_cancelled_ahead(const Job& job, Millis scheduled_at, std::int64_t id);
  /// A firing that ends without starting (refused by its overlap policy, or cancelled
  /// before its instant): its row, written ahead or inserted now, ends `status`; the log
  /// line says `said`.
  void record_not_started(const Job& job, Millis scheduled_at, const std::string& trigger,
                          const char* status, const char* said, const std::string& why,
                          std::int64_t prewritten);
  /// Cancels the firing written ahead that `row` stands for; false if it is not one.
  bool cancel_ahead(const store::RunRow& row, const std::string& reason);
  /// Writes a run row with status queued; returns its id. Scheduled firings call it
  /// ahead of their instant, other runs when they begin.
  std::int64_t insert_queued(const Job& job, Millis scheduled_at, const std::string& trigger);
  /// Firings in (from, to]: catch-up policy. Returns the last firing considered.
  Millis catch_up(const std::shared_ptr<Job>& job, Millis from, Millis to);
  Task<void> catch_up_all(std::shared_ptr<Job> job, std::vector<Millis> firings);
  /// Writes the job's anchor, last firing and pause. `soon`: after an ordinary firing,
  /// whose row already tells it; written within History::kDeferMs.
  void save_state(const Job& job, bool soon = false);

  async::WallTimer& wall_;
  History& history_;
  Runner& runner_;
  async::AsyncScope& scope_;
  /// Keyed by a view of the job's own name (its definition outlives the entry).
  using JobMap = std::map<std::string_view, std::shared_ptr<Job>, std::less<>>;
  JobMap jobs_;
  std::vector<std::shared_ptr<Job>> order_;
  std::map<std::int64_t, std::shared_ptr<Run>> runs_;
  async::Event idle_;
  bool firing_ = true;
  config::HistoryRetention retention_;
  std::uint64_t finished_since_prune_ = 0;
  Millis last_clock_log_ = 0;
  /// Firings cancelled between their row's write and their instant: run id -> reason.
  std::map<std::int64_t, std::string> cancelled_ahead_;
};

/// The account a job runs as: the daemon's own, or `user:`/`group:` (root only).
/// Throws std::runtime_error naming the missing user or group.
Identity resolve_identity(const config::JobSpec& spec);

}  // namespace kairos::daemon

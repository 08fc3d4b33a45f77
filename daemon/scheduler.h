// Scheduler: one coroutine per job computes the next firing, sleeps until it, and fires:
// the overlap policy (schedule::admit) decides whether a run starts, waits, replaces the
// running one, or is recorded `skipped`. Firings that fell while the daemon was down (or
// were jumped over by a clock step) go through the catch-up policy (schedule::plan_catch_up).
// A reload applies a new configuration as a diff, all or nothing.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "async/clock.h"
#include "async/scope.h"
#include "async/task.h"
#include "config/job_spec.h"
#include "daemon/ledger.h"
#include "daemon/run.h"
#include "daemon/runner.h"

namespace kairos::daemon {

/// Why a manual run did not start.
struct Refusal {
  std::string message;  // "run 12 is still active and the overlap policy is forbid"
  std::int64_t blocking_run = 0;
};

struct ReloadDiff {
  std::vector<std::string> added, removed, changed, unchanged;
};

class Scheduler {
 public:
  Scheduler(async::Clock& clock, RunLedger& ledger, Runner& runner, async::AsyncScope& scope);
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  /// Loads the first configuration's jobs and starts their loops. Throws, having changed
  /// nothing, for a job that cannot be planned (the loader rejects those first).
  void start(const config::Config& cfg);
  /// Applies a new, already validated configuration as a diff: all of it, or (when it
  /// throws) nothing.
  ReloadDiff apply(const config::Config& cfg);
  /// Stops every firing loop (shutdown); runs are left to the caller.
  void stop_firing();
  /// Completes once every firing loop has ended (after stop_firing()).
  Task<void> loops_ended();

  /// A run of `job` now (trigger manual), honouring its overlap policy unless `force`.
  std::variant<std::shared_ptr<Run>, Refusal> run_now(const std::string& job, bool force);
  /// Pause stops new firings; resume does not replay what was skipped meanwhile.
  /// nullopt if no such job, else whether the state changed.
  std::optional<bool> set_paused(const std::string& job, bool paused);

  std::shared_ptr<Job> find(std::string_view name) const;
  const std::vector<std::shared_ptr<Job>>& jobs() const { return order_; }

 private:
  using JobMap = std::map<std::string_view, std::shared_ptr<Job>, std::less<>>;
  /// A job built from its definition; `previous` is the running job it replaces, if any.
  /// Has no effect outside the returned object (apply() commits).
  std::shared_ptr<Job> make_job(const config::JobSpec& spec, Millis now,
                                const std::shared_ptr<Job>& previous, class IdentityCache& ids);
  void launch(const std::shared_ptr<Job>& job);
  Task<void> job_loop(std::shared_ptr<Job> job);
  /// One firing under the overlap policy; `reserved` is its row written ahead, if any.
  std::variant<std::shared_ptr<Run>, Refusal> admit(const std::shared_ptr<Job>& job,
                                                    Millis scheduled_at, Trigger trigger,
                                                    bool force, bool record_refusal,
                                                    std::int64_t reserved = 0);
  /// Firings in (from, to]: the catch-up policy. Returns the job's new cursor.
  Millis catch_up(const std::shared_ptr<Job>& job, Millis from, Millis to);
  Task<void> catch_up_all(std::shared_ptr<Job> job, std::vector<Millis> firings);
  void save_state(const Job& job, bool soon = false);

  async::Clock& clock_;
  RunLedger& ledger_;
  Runner& runner_;
  async::AsyncScope& scope_;
  JobMap jobs_;  // keyed by a view of the job's own name (its definition outlives the entry)
  std::vector<std::shared_ptr<Job>> order_;
  bool firing_ = true;
  Millis last_clock_log_ = 0;
};

/// The account a job runs as: the daemon's own, or `user:`/`group:` (root only).
/// Throws std::runtime_error naming the missing user or group.
Identity resolve_identity(const config::JobSpec& spec);

}  // namespace kairos::daemon

// Runner: executes runs. For each attempt it takes the job's pool slot and a global
// slot (FIFO semaphores; waiting shows as `queued`), records the attempt, spawns the
// process, races it against the per-attempt timeout and cancellation, records the
// outcome, and retries with exponential backoff while the policy says so. A backoff
// wait holds no slot; a slot is given back on every path (Permit is RAII).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "async/process.h"
#include "async/scope.h"
#include "async/sync.h"
#include "async/task.h"
#include "daemon/history.h"
#include "daemon/job.h"

namespace kairos::daemon {

struct AttemptOutcome {
  std::string status;  // succeeded | failed | timed_out | cancelled
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::string error;
  std::string output;
  bool output_truncated = false;
};

/// Delay before attempt n+1 (n >= 1): min(max_backoff, backoff * factor^(n-1)) times a
/// uniform factor in [1-jitter, 1+jitter]. `u01` is a uniform sample in [0, 1).
std::chrono::milliseconds retry_delay(const config::RetryPolicy& p, int n, double u01);
/// Whether an attempt that ended with `status` is retried under `p` (attempts aside).
bool retryable(const config::RetryPolicy& p, const std::string& status);

class Runner {
 public:
  Runner(async::ProcessManager& processes, History& history, async::AsyncScope& scope,
         int max_concurrent_runs);

  /// Applies `daemon.max_concurrent_runs` and `pools:` (also on reload).
  void set_limits(int max_concurrent_runs, const std::map<std::string, int>& pools);
  /// Starts executing a run whose row is already written (status queued).
  void start(std::shared_ptr<Run> run);
  /// Called once per run, when it has finished and its row is final.
  void set_on_finished(std::function<void(Run&)> f) { on_finished_ = std::move(f); }

  std::size_t global_available() const { return global_.available(); }
  /// The environment of an attempt (DESIGN.md "Attempt"): PATH, HOME, USER, LOGNAME,
  /// SHELL, the job's env, KAIROS_*.
  static std::vector<std::string> environment(const Run& run, int attempt);

 private:
  Task<void> execute(std::shared_ptr<Run> run);
  Task<AttemptOutcome> attempt(Run* run, int n);
  static Task<async::ExitStatus> supervise(async::Process* p, async::CancelToken t,
                                           std::chrono::milliseconds grace);
  std::shared_ptr<async::Semaphore> pool(const std::string& name);
  void mark_queued(Run& run, const std::string& waiting_for);

  async::ProcessManager& processes_;
  History& history_;
  async::AsyncScope& scope_;
  async::Semaphore global_;
  std::map<std::string, std::shared_ptr<async::Semaphore>> pools_;
  std::function<void(Run&)> on_finished_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace kairos::daemon

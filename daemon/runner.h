// Runner: executes runs. For each attempt it takes the job's pool slot and a global slot
// (FIFO semaphores; waiting shows as `queued`), records the attempt, spawns the process
// through the Launcher, races it against the per-attempt timeout and cancellation on the
// Clock, records the outcome, and retries with backoff while schedule::next_retry says so.
// A backoff wait holds no slot; a slot is given back on every path (Permit is RAII and
// keeps its pool alive).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "async/clock.h"
#include "async/launcher.h"
#include "async/scope.h"
#include "async/sync.h"
#include "async/task.h"
#include "daemon/ledger.h"
#include "daemon/run.h"

namespace kairos::daemon {

struct AttemptOutcome {
  RunStatus status = RunStatus::failed;  // succeeded | failed | timed_out | cancelled
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::string error;
  std::string output;
  bool output_truncated = false;
};

class Runner {
 public:
  Runner(async::Clock& clock, async::Launcher& launcher, RunLedger& ledger,
         async::AsyncScope& scope, int max_concurrent_runs);

  /// Applies `daemon.max_concurrent_runs` and `pools:` (also on reload). A pool dropped
  /// from the config lives on while its runs hold slots.
  void set_limits(int max_concurrent_runs, const std::map<std::string, int>& pools);
  /// Starts executing a run that the ledger has opened.
  void start(std::shared_ptr<Run> run);
  /// The environment of an attempt: PATH, HOME, USER, LOGNAME, SHELL, the job's env, KAIROS_*.
  static std::vector<std::string> environment(const Run& run, int attempt);

 private:
  Task<void> execute(std::shared_ptr<Run> run);
  Task<AttemptOutcome> attempt(Run* run, int n);
  std::shared_ptr<async::Semaphore> pool(const std::string& name) const;

  async::Clock& clock_;
  async::Launcher& launcher_;
  RunLedger& ledger_;
  async::AsyncScope& scope_;
  std::shared_ptr<async::Semaphore> global_;
  std::map<std::string, std::shared_ptr<async::Semaphore>> pools_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace kairos::daemon

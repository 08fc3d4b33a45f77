// Overlap admission: what a firing (or a manual run) does while the job still has active runs,
// per its `concurrency:` policy (docs/semantics.md, "Overlap"). Pure: the caller acts on it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "config/job_spec.h"

namespace kairos::schedule {

/// One of the job's active runs (queued, running or in backoff).
struct ActiveRun {
  std::int64_t id = 0;
  /// It waits for another run to end before it starts (policy `queue`).
  bool waiting_behind = false;
};

enum class Admit {
  start,    // start the new run now
  skip,     // refuse it: a `skipped` row, or an error to a manual caller
  queue,    // start it when `blocking_run` ends
  replace,  // cancel `to_cancel`, then start it
};

struct Admission {
  Admit action = Admit::start;
  /// skip: the run that blocks it; queue: the run it waits for; otherwise 0.
  std::int64_t blocking_run = 0;
  /// skip: why, for the run's `error` and the caller; otherwise empty.
  std::string reason;
  /// replace: every active run, oldest first.
  std::vector<std::int64_t> to_cancel;
  bool operator==(const Admission&) const = default;
};

/// Decides about a new run of a job whose active runs are `active`, oldest first. `force`
/// (`kairosctl run --force`) starts it whatever the policy.
Admission admit(config::Overlap policy, int max_instances, std::span<const ActiveRun> active,
                bool force);

}  // namespace kairos::schedule

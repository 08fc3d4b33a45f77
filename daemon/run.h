// The daemon's live objects: a Job (a loaded definition with its firing loop) and a Run
// (what a firing or a manual trigger started). Both are shared_ptr-owned: a run keeps its
// job alive after a reload removed it, and finishes under the definition it started with.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "async/cancel.h"
#include "async/sync.h"
#include "async/task.h"
#include "config/accounts.h"
#include "config/job_spec.h"
#include "schedule/planner.h"
#include "store/store.h"

namespace kairos::daemon {

using async::Task;
using schedule::Millis;
using store::RunStatus;
using store::Trigger;

/// The account a job's processes run as.
struct Identity {
  std::optional<uid_t> uid;  // set only when switching user
  std::optional<gid_t> gid;
  std::string user;
  std::string home;
  std::string shell;
};

/// A run's life: queued (behind the overlap policy or a concurrency slot) → running
/// (an attempt's process is alive) ⇄ backoff (between attempts) → finished.
enum class RunPhase { queued, running, backoff, finished };
const char* to_string(RunPhase p);

struct Job;

struct Run {
  std::int64_t id = 0;
  std::shared_ptr<Job> job;
  std::shared_ptr<const config::JobSpec> spec;  // the definition this run uses
  std::shared_ptr<const Identity> identity;     // the account it runs as (the job's, shared)
  Trigger trigger = Trigger::manual;
  Millis scheduled_at = 0;
  Millis started_at = 0;
  RunPhase phase = RunPhase::queued;
  int attempts = 0;
  Millis attempt_started_at = 0;  // the current attempt's start
  async::CancelSource cancel;
  std::string cancel_reason;                 // recorded as the run's error
  std::shared_ptr<Run> predecessor;          // overlap `queue`: starts after this one
  async::Event done;
  store::RunRow result;                      // final row, once finished

  /// The run as the history will say once it has caught up: its final row when finished,
  /// else its live status.
  store::RunRow row() const;
  void request_cancel(std::string reason);
};

/// A job's scheduling state (for logs, `list` and the firing loop).
enum class JobState { active, running, paused, disabled, done };
const char* to_string(JobState s);

struct Job {
  std::shared_ptr<const config::JobSpec> spec;
  schedule::Planner planner;
  /// Shared by every job of the same user and group (10,000 jobs: one copy, not 10,000).
  std::shared_ptr<const Identity> identity;
  bool paused = false;
  bool removed = false;
  bool finished = false;                       // one-shot that has fired
  std::vector<std::shared_ptr<Run>> active;    // not finished yet, oldest first
  std::optional<Millis> next_fire;             // the instant the loop sleeps until
  Millis cursor = 0;                           // latest firing handled (nominal instant)
  async::CancelSource stop;                    // ends the firing loop
  async::Event loop_done;

  Job(std::shared_ptr<const config::JobSpec> s, schedule::Planner p,
      std::shared_ptr<const Identity> id)
      : spec(std::move(s)), planner(std::move(p)), identity(std::move(id)) {}
  const std::string& name() const { return spec->name; }
  JobState state() const;
};

}  // namespace kairos::daemon

#include "daemon/job.h"

namespace kairos::daemon {

const char* to_string(RunPhase p) {
  switch (p) {
    case RunPhase::queued: return "queued";
    case RunPhase::running: return "running";
    case RunPhase::backoff: return "backoff";
    case RunPhase::finished: return "finished";
  }
  return "?";
}

const char* to_string(JobState s) {
  switch (s) {
    case JobState::active: return "active";
    case JobState::running: return "running";
    case JobState::paused: return "paused";
    case JobState::disabled: return "disabled";
    case JobState::done: return "done";
  }
  return "?";
}

JobState Job::state() const {
  if (!spec->enabled) return JobState::disabled;
  if (paused) return JobState::paused;
  for (const auto& r : active)
    if (r->phase != RunPhase::queued) return JobState::running;
  if (finished && active.empty()) return JobState::done;
  return JobState::active;
}

}  // namespace kairos::daemon

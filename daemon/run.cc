#include "daemon/run.h"

#include <spdlog/spdlog.h>

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

store::RunRow Run::row() const {
  if (phase == RunPhase::finished) return result;
  store::RunRow r;
  r.id = id;
  r.job = spec->name;
  r.trigger = trigger;
  r.scheduled_at = scheduled_at;
  if (started_at) r.started_at = started_at;
  r.status = phase == RunPhase::queued ? RunStatus::queued : RunStatus::running;
  r.attempts = attempts;
  return r;
}

void Run::request_cancel(std::string reason) {
  if (phase == RunPhase::finished || cancel.requested()) return;
  cancel_reason = std::move(reason);
  cancel.request();
  spdlog::info("job={} run={} cancel requested: {}", spec->name, id, cancel_reason);
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

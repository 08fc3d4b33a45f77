// Planner: the firing instants of one job's schedule. Pure: no I/O, no clock reads.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <date/tz.h>

#include "config/job_spec.h"
#include "daemon/clock.h"
#include "schedule/cron.h"

namespace kairos::daemon {

class Planner {
 public:
  /// `loaded_at`: when the job was (re)loaded (origin of `after`); `anchor`: origin of
  /// `every` (firings at anchor + k*every, k >= 1). Throws std::runtime_error for a
  /// cron expression or zone the loader should already have rejected. `schedule` is
  /// shared, not copied: a job's planner points into the job's own definition.
  Planner(std::shared_ptr<const config::Schedule> schedule, Millis loaded_at, Millis anchor);

  /// The first firing strictly after `t`, or nullopt when there is none.
  std::optional<Millis> next_after(Millis t) const;
  /// How many firings fall in (from, to], counting at most `cap`; `first`/`last` get
  /// the earliest and latest of them when non-null.
  std::int64_t count_between(Millis from, Millis to, std::int64_t cap, Millis* first,
                             Millis* last) const;
  /// "every 5m", "cron 30 2 * * * (Europe/Berlin)", "after 30s", "at 2027-...".
  std::string describe() const;
  bool one_shot() const {
    return s_->kind == config::ScheduleKind::after || s_->kind == config::ScheduleKind::at;
  }
  const date::time_zone* zone() const { return tz_; }
  Millis anchor() const { return anchor_; }

 private:
  std::shared_ptr<const config::Schedule> s_;
  Millis loaded_at_;
  Millis anchor_;
  std::optional<schedule::CronSpec> cron_;
  const date::time_zone* tz_ = nullptr;
};

std::string format_instant(Millis t, const date::time_zone* tz);

}  // namespace kairos::daemon

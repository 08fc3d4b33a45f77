// Planner: the firing instants of one job's schedule. Pure: no I/O, no clock reads.
#pragma once

#include <date/tz.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "config/job_spec.h"
#include "schedule/cron.h"

namespace kairos::schedule {

/// Milliseconds since the Unix epoch (UTC).
using Millis = std::int64_t;

class Planner {
 public:
  /// `loaded_at`: when the job was (re)loaded (origin of `after`); `anchor`: origin of
  /// `every` (firings at anchor + k*every, k >= 1). Throws std::runtime_error for a
  /// cron expression or zone the loader should already have rejected. `schedule` is
  /// shared, not copied: a job's planner points into the job's own definition.
  Planner(std::shared_ptr<const config::Schedule> schedule, Millis loaded_at, Millis anchor);

  /// The first firing strictly after `t`, or nullopt when there is none.
  std::optional<Millis> next_after(Millis t) const;
  /// "every 5m", "cron 30 2 * * * (Europe/Berlin)", "after 30s", "at 2027-...".
  std::string describe() const;
  /// The cron job's zone; nullptr for the other kinds.
  const date::time_zone* zone() const { return tz_; }
  /// The origin of `every`.
  Millis anchor() const { return anchor_; }
  /// The schedule this planner was made from.
  const config::Schedule& schedule() const { return *s_; }
  /// The parsed expression of a cron schedule; nullptr for the other kinds.
  const CronSpec* cron() const { return cron_ ? &*cron_ : nullptr; }

 private:
  std::shared_ptr<const config::Schedule> s_;
  Millis loaded_at_;
  Millis anchor_;
  std::optional<CronSpec> cron_;
  const date::time_zone* tz_ = nullptr;
};

/// RFC 3339 in `tz`, or in UTC when `tz` is null; whole seconds.
std::string format_instant(Millis t, const date::time_zone* tz);

}  // namespace kairos::schedule

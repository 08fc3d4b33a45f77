// Catch-up after downtime: of the firings a job missed, which run now and which are only
// recorded as `missed` (docs/semantics.md, "Catch-up after downtime"). Pure: no I/O, no clock.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "config/job_spec.h"
#include "schedule/planner.h"

namespace kairos::schedule {

/// The most firings one catch-up runs (policy `all`): the newest ones.
inline constexpr std::int64_t kMaxCatchUpRuns = 100;

/// The firings recorded `missed`, as one row however many they are.
struct Missed {
  Millis first = 0;        // the earliest firing not run
  Millis last = 0;         // the latest firing not run (always before the first one that runs)
  std::int64_t count = 0;  // exactly how many firings are not run
  bool operator==(const Missed&) const = default;
};

struct CatchUpPlan {
  /// None when every firing of the window runs (or there was none).
  std::optional<Missed> missed;
  /// The firings to run now, oldest first: at most one for `last`, at most kMaxCatchUpRuns for
  /// `all`, none for `none`.
  std::vector<Millis> run;
  /// The latest firing of the window (the job's new cursor); `to` when there was none.
  Millis cursor = 0;
};

/// Decides about the firings f with from < f <= to. `max_age` (when > 0) keeps firings older
/// than to - max_age from running. The work is bounded by the calendar span of the window (its
/// months and UTC-offset changes) and by kMaxCatchUpRuns, never by its number of firings,
/// because a long outage of a per-second job holds millions of them.
CatchUpPlan plan_catch_up(const Planner& planner, const config::CatchUp& policy, Millis from,
                          Millis to);

}  // namespace kairos::schedule

// Cron firings over a window, counted or searched from its newest end without visiting each
// firing: what catch-up after downtime needs, where the window can hold millions of firings.
// The results are exactly those of calling next_fire() repeatedly (same daylight-saving rule).
// Pure logic: no I/O, no clock reads.
#pragma once

#include <date/tz.h>

#include <chrono>
#include <cstdint>
#include <optional>

#include "schedule/cron.h"

namespace kairos::schedule {

/// How many times `spec` fires in (after, until] on `tz`'s wall clock. The work grows with the
/// months and UTC-offset changes the window spans, never with the number of firings.
std::int64_t count_fires(const CronSpec& spec, std::chrono::sys_seconds after,
                         std::chrono::sys_seconds until, const date::time_zone& tz);

/// The latest firing in (after, until], or nullopt when there is none. Searches backwards from
/// `until`, so its work grows with the distance to that firing, not with the window.
std::optional<std::chrono::sys_seconds> last_fire(const CronSpec& spec,
                                                  std::chrono::sys_seconds after,
                                                  std::chrono::sys_seconds until,
                                                  const date::time_zone& tz);

}  // namespace kairos::schedule

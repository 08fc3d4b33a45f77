// Words for the enums of job_spec.h and a one-line schedule, for logs and `kairosctl`.
// The words are the YAML spellings, so what is printed can be pasted back into a file.
#pragma once

#include <string>
#include <string_view>

#include "config/job_spec.h"

namespace kairos::config {

std::string_view to_string(ScheduleKind kind);     // "after", "at", "every", "cron"
std::string_view to_string(Overlap overlap);       // "allow", "forbid", "replace", "queue"
std::string_view to_string(CatchUpPolicy policy);  // "none", "last", "all"
std::string_view to_string(OnRemove on_remove);    // "finish", "cancel"

/// "after 30s", "at 2027-01-01T02:00:00Z", "every 5m (jitter 15s)",
/// "cron 30 2 * * * (Europe/Berlin)".
std::string describe(const Schedule& schedule);

}  // namespace kairos::config

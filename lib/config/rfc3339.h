// RFC 3339 instants ("2027-01-01T03:00:00+01:00", "...Z") for `schedule: {at: ...}`.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/job_spec.h"

namespace kairos::config {

/// Parses a full RFC 3339 date-time with an explicit offset (or Z); fractional seconds are
/// truncated to milliseconds. nullopt + message on error.
std::optional<TimePoint> parse_rfc3339(std::string_view text, std::string* error = nullptr);
/// The instant in UTC, "2027-01-01T02:00:00Z" (milliseconds only when non-zero).
std::string format_rfc3339(TimePoint t);

}  // namespace kairos::config

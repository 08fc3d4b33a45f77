// RFC 3339 timestamps with the zone's numeric offset, as printed by `kairosctl next`.
#pragma once

#include <date/tz.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace kairos::schedule {

/// "2026-03-29T03:00:00+02:00": local wall time in `tz` and its offset; never "Z" ("+00:00" for
/// UTC). Historical offsets with seconds (LMT) append ":ss" so the instant stays exact.
std::string format_rfc3339(std::chrono::sys_seconds t, const date::time_zone& tz);

/// Parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|±hh:mm)"; 't'/' ' and 'z' are accepted too and fractional
/// seconds are truncated. On failure returns nullopt and, if `error` is non-null, says why.
std::optional<std::chrono::sys_seconds> parse_rfc3339(std::string_view text, std::string* error);

}  // namespace kairos::schedule

// RFC 3339 timestamps: the one parser and printers kairos uses (configuration `at:`,
// `kairosctl next --after`, `history --since`, every printed instant).
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

/// An instant to the millisecond (the history's resolution).
using Instant = std::chrono::sys_time<std::chrono::milliseconds>;

/// Parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|±hh:mm)"; 't'/' ' and 'z' are accepted too. Fractions
/// are kept to the millisecond (further digits truncated); a leap second (`:60`) is refused,
/// since POSIX time has none. On failure returns nullopt and, if `error` is non-null, says
/// why: "invalid time '...': no such date (expected RFC 3339 like ...)".
std::optional<Instant> parse_rfc3339(std::string_view text, std::string* error = nullptr);

/// The instant in UTC, "2027-01-01T02:00:00Z" (milliseconds only when non-zero).
std::string format_rfc3339_utc(Instant t);

}  // namespace kairos::schedule

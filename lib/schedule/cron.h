// Cron expressions: parsing (with column-accurate errors) and evaluation on a time zone's wall
// clock with kairos's daylight-saving rule (docs/cron.md, "Daylight saving").
// Pure logic: no I/O, no clock reads; every function is safe to call from any thread.
#pragma once

#include <date/tz.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "schedule/rfc3339.h"

namespace kairos::schedule {

/// Why an expression was rejected. `message` ends with "at column N" (1-based, counted in the
/// expression as written) and names the field, e.g. "day-of-week: 8 is out of range 0-7 at
/// column 11".
struct CronError {
  std::string message;
  int column = 0;
  bool operator==(const CronError&) const = default;
};

namespace detail {
class CronBuilder;
}

/// A parsed cron expression: one bit set per field plus the L/W/# modifiers. A plain value: copy
/// it, compare it, share it between threads. Only parse_cron() makes one, so every CronSpec can
/// fire at least once in the Gregorian calendar.
class CronSpec {
 public:
  /// Bit n set = second n (0-59) matches. 5-field expressions have just bit 0.
  std::uint64_t seconds() const { return seconds_; }
  /// Bit n set = minute n (0-59) matches.
  std::uint64_t minutes() const { return minutes_; }
  /// Bit n set = hour n (0-23) matches.
  std::uint32_t hours() const { return hours_; }
  /// Bit n set = day-of-month n (1-31) matches (plain values only; see the modifiers below).
  std::uint32_t days_of_month() const { return dom_; }
  /// Bit n set = month n (1-12) matches.
  std::uint16_t months() const { return months_; }
  /// Bit n set = weekday n (0 = Sunday … 6 = Saturday) matches (7 is folded into 0).
  std::uint8_t days_of_week() const { return dow_; }
  /// Bit n set = `L-n` (n days before the last day; `L` is n = 0).
  std::uint32_t dom_last_offsets() const { return dom_last_; }
  /// `LW`: the last weekday (Mon-Fri) of the month.
  bool dom_last_weekday() const { return dom_last_weekday_; }
  /// Bit n set = `nW`: the weekday nearest to day n, within the same month.
  std::uint32_t dom_nearest_weekday() const { return dom_nearest_; }
  /// Bit w set = `wL`: the last weekday w of the month.
  std::uint8_t dow_last() const { return dow_last_; }
  /// dow_nth()[w] bit n set = `w#n`: the n-th (1-5) weekday w of the month.
  const std::array<std::uint8_t, 7>& dow_nth() const { return dow_nth_; }
  /// The day-of-month field began with `*` or `?` (cronie's rule: then it never ORs).
  bool dom_star() const { return dom_star_; }
  /// The day-of-week field began with `*` or `?`.
  bool dow_star() const { return dow_star_; }
  /// docs/cron.md rule 1: no seconds/minute/hour field begins with `*` or `?`.
  bool fixed_time() const { return fixed_time_; }
  /// The expression as written (macros included), for messages.
  const std::string& source() const { return source_; }

  /// Bit d (1-31) set = day d of that month matches the day fields (OR/AND rule applied).
  /// `first_weekday` is the weekday of day 1 (0 = Sunday), `length` the month's length.
  std::uint32_t day_mask(unsigned first_weekday, unsigned length) const;

  bool operator==(const CronSpec&) const = default;

 private:
  friend class detail::CronBuilder;

  std::uint64_t seconds_ = 0;
  std::uint64_t minutes_ = 0;
  std::uint32_t hours_ = 0;
  std::uint32_t dom_ = 0;
  std::uint16_t months_ = 0;
  std::uint8_t dow_ = 0;
  std::uint32_t dom_last_ = 0;
  bool dom_last_weekday_ = false;
  std::uint32_t dom_nearest_ = 0;
  std::uint8_t dow_last_ = 0;
  std::array<std::uint8_t, 7> dow_nth_{};
  bool dom_star_ = false;
  bool dow_star_ = false;
  bool fixed_time_ = false;
  // Derived at parse time so day_mask() is a handful of word operations: for a month whose
  // day 1 is weekday f, bit d is set when day d's weekday is in dow_.
  std::array<std::uint32_t, 7> dow_pattern_{};
  std::string source_;
};

/// Parses a 5-field (minute hour dom month dow) or 6-field (leading seconds) expression or a
/// macro (@yearly @annually @monthly @weekly @daily @midnight @hourly). Rejects expressions that
/// can never fire ("0 0 30 2 *").
std::variant<CronSpec, CronError> parse_cron(std::string_view expr);

/// The years the evaluators search: far enough for any schedule, small enough that no date
/// arithmetic can overflow. No firing is ever reported outside them.
inline constexpr int kCronMinYear = 1;
inline constexpr int kCronMaxYear = 9000;

/// Next firing strictly after `after`, evaluated on `tz`'s wall clock with docs/cron.md's
/// daylight-saving rule. nullopt only when it never fires again before the year 9000 (the search
/// is bounded and never loops forever).
std::optional<std::chrono::sys_seconds> next_fire(const CronSpec& spec,
                                                  std::chrono::sys_seconds after,
                                                  const date::time_zone& tz);

/// A canonical 6-field rendering ("0 30 2 * * 1-5"); parse_cron(to_string(s)) == s except for
/// source().
std::string to_string(const CronSpec& spec);

}  // namespace kairos::schedule

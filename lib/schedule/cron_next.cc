// The cron evaluator: finds the next firing by skipping whole fields on the zone's wall clock
// (month, then day, then hour, minute, second), one UTC-offset segment of the zone at a time.
#include <algorithm>
#include <bit>

#include "schedule/cron.h"

namespace kairos::schedule {
namespace {

using date::local_days;
using date::local_seconds;
using std::chrono::days;
using std::chrono::hours;
using std::chrono::seconds;
using std::chrono::sys_seconds;

constexpr int kMaxYear = kCronMaxYear;
constexpr int kMinYear = kCronMinYear;

int next_bit(std::uint64_t mask, int from) {
  if (from >= 64) return -1;
  mask &= ~std::uint64_t{0} << from;
  return mask == 0 ? -1 : std::countr_zero(mask);
}

bool is_leap(int y) {
  return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

unsigned month_length(int y, unsigned m) {
  static constexpr unsigned kLengths[] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kLengths[m];
}

local_days make_day(int y, unsigned m, unsigned d) {
  return local_days{date::year{y} / date::month{m} / date::day{d}};
}

/// The first second-of-day >= `tod` whose hour, minute and second match, or -1.
int next_time_of_day(const CronSpec& s, int tod) {
  const int h0 = tod / 3600, m0 = tod / 60 % 60, s0 = tod % 60;
  const int first_min = std::countr_zero(s.minutes());
  const int first_sec = std::countr_zero(s.seconds());
  int h = next_bit(s.hours(), h0);
  if (h < 0) return -1;
  if (h == h0) {
    int m = next_bit(s.minutes(), m0);
    if (m == m0) {
      const int sec = next_bit(s.seconds(), s0);
      if (sec >= 0) return h * 3600 + m * 60 + sec;
      m = next_bit(s.minutes(), m0 + 1);
    }
    if (m >= 0) return h * 3600 + m * 60 + first_sec;
    h = next_bit(s.hours(), h0 + 1);
    if (h < 0) return -1;
  }
  return h * 3600 + first_min * 60 + first_sec;
}

/// The first wall time in [from, limit) that matches every field of `s`, or nullopt.
std::optional<local_seconds> first_match(const CronSpec& s, local_seconds from,
                                         local_seconds limit) {
  if (from >= limit) return std::nullopt;
  const local_days from_day = std::chrono::floor<days>(from);
  const date::year_month_day ymd{from_day};
  int y = static_cast<int>(ymd.year());
  unsigned m = static_cast<unsigned>(ymd.month());
  unsigned d = static_cast<unsigned>(ymd.day());
  int tod = static_cast<int>((from - from_day).count());
  while (y <= kMaxYear) {
    if (!(s.months() & (1u << m))) {
      const int next = next_bit(s.months(), static_cast<int>(m) + 1);
      if (next < 0) {
        ++y;
        m = static_cast<unsigned>(std::countr_zero(s.months()));
      } else {
        m = static_cast<unsigned>(next);
      }
      d = 1;
      tod = 0;
      if (y > kMaxYear || make_day(y, m, 1) >= limit) return std::nullopt;
    }
    const local_days first = make_day(y, m, 1);
    const unsigned first_weekday = date::weekday{first}.c_encoding();
    std::uint32_t mask = s.day_mask(first_weekday, month_length(y, m)) & (~0u << d);
    while (mask != 0) {
      const unsigned day = static_cast<unsigned>(std::countr_zero(mask));
      if (day != d) tod = 0;
      const local_seconds midnight{first + days{day - 1}};
      if (midnight >= limit) return std::nullopt;
      const int t = next_time_of_day(s, tod);
      if (t >= 0) {
        const local_seconds result = midnight + seconds{t};
        if (result >= limit) return std::nullopt;
        return result;
      }
      mask &= mask - 1;
      d = day + 1;
      tod = 0;
    }
    if (++m > 12) {
      m = 1;
      ++y;
    }
    d = 1;
    tod = 0;
    if (y > kMaxYear || make_day(y, m, 1) >= limit) return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

std::uint32_t CronSpec::day_mask(unsigned f, unsigned len) const {
  const std::uint32_t valid = (len >= 31 ? ~0u : (1u << (len + 1)) - 1) & ~1u;
  auto weekday_of = [f](unsigned d) { return (f + d - 1) % 7; };
  std::uint32_t dom = dom_ & valid;
  for (std::uint32_t bits = dom_last_; bits != 0; bits &= bits - 1) {
    const unsigned n = static_cast<unsigned>(std::countr_zero(bits));
    if (n < len) dom |= 1u << (len - n);
  }
  if (dom_last_weekday_) {
    const unsigned w = weekday_of(len);
    dom |= 1u << (w == 6 ? len - 1 : w == 0 ? len - 2 : len);
  }
  for (std::uint32_t bits = dom_nearest_; bits != 0; bits &= bits - 1) {
    const unsigned n = static_cast<unsigned>(std::countr_zero(bits));
    if (n > len) continue;  // Quartz: "31W" does nothing in a 30-day month
    // The nearest weekday, never leaving the month: Saturday the 1st moves to Monday the 3rd,
    // Sunday the last to Friday.
    const unsigned w = weekday_of(n);
    unsigned day = n;
    if (w == 6) day = n == 1 ? 3 : n - 1;
    if (w == 0) day = n == len ? n - 2 : n + 1;
    dom |= 1u << day;
  }
  std::uint32_t dow = dow_pattern_[f] & valid;
  for (unsigned w = 0; w < 7; ++w) {
    if (dow_last_ & (1u << w)) dow |= 1u << (len - (weekday_of(len) + 7 - w) % 7);
    const unsigned first = 1 + (w + 7 - f) % 7;
    for (unsigned nth = dow_nth_[w]; nth != 0; nth &= nth - 1) {
      const unsigned day = first + 7 * (static_cast<unsigned>(std::countr_zero(nth)) - 1);
      if (day <= len) dow |= 1u << day;
    }
  }
  return dom_star_ || dow_star_ ? (dom & dow) : (dom | dow);
}

std::optional<sys_seconds> next_fire(const CronSpec& spec, sys_seconds after,
                                     const date::time_zone& tz) {
  const sys_seconds max_time{date::sys_days{date::year{kMaxYear} / 1 / 1}};
  const sys_seconds min_time{date::sys_days{date::year{kMinYear} / 1 / 1}};
  // Only parse_cron() makes specs that can fire; a default-constructed one never does.
  if (after >= max_time || spec.seconds() == 0 || spec.minutes() == 0 || spec.hours() == 0 ||
      spec.months() == 0) {
    return std::nullopt;
  }
  after = std::max(after, min_time - seconds{1});
  // The calendar repeats every 400 years, so a schedule that parsed always fires within that.
  const sys_seconds horizon = std::min(max_time, after + days{146097 + 366});
  sys_seconds t = after + seconds{1};
  // Each round handles one segment of the zone's history with a constant UTC offset; inside it
  // wall time and absolute time move together, so a wall-clock search is exact there.
  while (t < horizon) {
    const date::sys_info info = tz.get_info(t);
    const seconds offset = info.offset;
    local_seconds from{t.time_since_epoch() + offset};
    if (spec.fixed_time() && t - info.begin < hours{48} && info.begin > min_time) {
      const seconds before = tz.get_info(info.begin - seconds{1}).offset;
      if (before < offset && t == info.begin) {
        // Spring forward (docs/cron.md rule 2): a fixed-time job whose wall time was skipped fires
        // once, when the gap ends; it coincides with a regular firing at that instant, if any.
        const local_seconds gap_begin{info.begin.time_since_epoch() + before};
        const local_seconds gap_end{info.begin.time_since_epoch() + offset};
        if (first_match(spec, gap_begin, gap_end)) return t;
      } else if (before > offset) {
        // Fall back (rule 3): the repeated wall times already had their first occurrence in the
        // previous segment, so a fixed-time job skips them here.
        from = std::max(from, local_seconds{info.begin.time_since_epoch() + before});
      }
    }
    const sys_seconds end = std::min(info.end, horizon);
    const local_seconds limit{end.time_since_epoch() + offset};
    if (auto local = first_match(spec, from, limit)) {
      return sys_seconds{local->time_since_epoch() - offset};
    }
    t = end;
  }
  return std::nullopt;
}

}  // namespace kairos::schedule

// The window is cut into the zone's constant-offset segments, where wall time and absolute time
// move together. Inside a segment, whole days are counted a month at a time from day_mask()
// (every matching day has the same firings), and only the partial first and last days need the
// time-of-day fields. The daylight-saving rule only acts at a segment's start, so it is applied
// there, as next_fire() does.
#include "schedule/cron_range.h"

#include <algorithm>
#include <bit>

namespace kairos::schedule {
namespace {

using date::local_days;
using date::local_seconds;
using std::chrono::days;
using std::chrono::hours;
using std::chrono::seconds;
using std::chrono::sys_seconds;

constexpr int kDaySeconds = 86400;

// next_fire()'s search bounds: no firing lies outside them.
const sys_seconds kMinTime{date::sys_days{date::year{kCronMinYear} / 1 / 1}};
const sys_seconds kMaxTime{date::sys_days{date::year{kCronMaxYear} / 1 / 1}};

/// Set bits of `mask` below bit `n`.
int bits_below(std::uint64_t mask, int n) {
  if (n <= 0) return 0;
  if (n >= 64) return std::popcount(mask);
  return std::popcount(mask & ((std::uint64_t{1} << n) - 1));
}

/// The highest set bit of `mask` at or below `at`, or -1.
int prev_bit(std::uint64_t mask, int at) {
  if (at < 0) return -1;
  if (at < 63) mask &= (std::uint64_t{2} << at) - 1;
  return mask == 0 ? -1 : 63 - std::countl_zero(mask);
}

local_seconds to_local(sys_seconds t, seconds offset) {
  return local_seconds{t.time_since_epoch() + offset};
}

/// The expression's firings on a wall clock without offset changes.
class WallClock {
 public:
  explicit WallClock(const CronSpec& s)
      : s_(s),
        per_day_(std::int64_t{std::popcount(s.seconds())} * std::popcount(s.minutes()) *
                 std::popcount(s.hours())) {}

  bool never() const { return per_day_ == 0 || s_.months() == 0; }

  /// Matching wall times in [a, b).
  std::int64_t count(local_seconds a, local_seconds b) const {
    if (a >= b) return 0;
    const local_days da = std::chrono::floor<days>(a), db = std::chrono::floor<days>(b);
    const int ta = static_cast<int>((a - da).count()), tb = static_cast<int>((b - db).count());
    if (da == db) return day_matches(da) ? times_before(tb) - times_before(ta) : 0;
    std::int64_t n = day_matches(da) ? per_day_ - times_before(ta) : 0;
    n += per_day_ * matching_days(da + days{1}, db);
    if (day_matches(db)) n += times_before(tb);
    return n;
  }

  /// The latest matching wall time in [a, b), or nullopt.
  std::optional<local_seconds> last(local_seconds a, local_seconds b) const {
    if (a >= b) return std::nullopt;
    const local_days first_day = std::chrono::floor<days>(a);
    const local_seconds t = b - seconds{1};
    local_days day = std::chrono::floor<days>(t);
    int tod = static_cast<int>((t - day).count());
    while (day >= first_day) {
      const date::year_month_day ymd{day};
      const local_days month_start{ymd.year() / ymd.month() / 1};
      const unsigned d = static_cast<unsigned>(ymd.day());
      std::uint32_t mask = month_mask(ymd.year() / ymd.month()) &
                           static_cast<std::uint32_t>((std::uint64_t{2} << d) - 1);
      while (mask != 0) {
        const unsigned dd = 31u - static_cast<unsigned>(std::countl_zero(mask));
        const local_days candidate = month_start + days{dd - 1};
        if (candidate < first_day) return std::nullopt;
        const int r = last_time_at_or_before(dd == d ? tod : kDaySeconds - 1);
        if (r >= 0) {
          const local_seconds found = candidate + seconds{r};
          return found >= a ? std::optional(found) : std::nullopt;
        }
        mask &= ~(1u << dd);
      }
      day = month_start - days{1};
      tod = kDaySeconds - 1;
    }
    return std::nullopt;
  }

 private:
  /// Bit d set = day d of that month matches; 0 when the month does not.
  std::uint32_t month_mask(date::year_month ym) const {
    if (!(s_.months() & (1u << static_cast<unsigned>(ym.month())))) return 0;
    const unsigned first_weekday = date::weekday{local_days{ym / 1}}.c_encoding();
    const unsigned length = static_cast<unsigned>((ym / date::last).day());
    return s_.day_mask(first_weekday, length);
  }

  bool day_matches(local_days d) const {
    const date::year_month_day ymd{d};
    return (month_mask(ymd.year() / ymd.month()) >> static_cast<unsigned>(ymd.day())) & 1u;
  }

  /// Matching days in [from, to), a month at a time.
  std::int64_t matching_days(local_days from, local_days to) const {
    std::int64_t n = 0;
    while (from < to) {
      const date::year_month_day ymd{from};
      const date::year_month ym = ymd.year() / ymd.month();
      const local_days end = std::min<local_days>(to, local_days{ym / date::last} + days{1});
      const unsigned lo = static_cast<unsigned>(ymd.day());
      const unsigned hi = lo + static_cast<unsigned>((end - from).count()) - 1;
      const std::uint64_t range = ((std::uint64_t{2} << hi) - 1) & ~((std::uint64_t{1} << lo) - 1);
      n += std::popcount(month_mask(ym) & range);
      from = end;
    }
    return n;
  }

  /// Matching times of day in [0, tod); tod may be 86400.
  std::int64_t times_before(int tod) const {
    const int h = tod / 3600, m = tod / 60 % 60, sec = tod % 60;
    const std::int64_t per_minute = std::popcount(s_.seconds());
    const std::int64_t per_hour = per_minute * std::popcount(s_.minutes());
    std::int64_t n = bits_below(s_.hours(), h) * per_hour;
    if (h < 24 && (s_.hours() >> h & 1u)) {
      n += bits_below(s_.minutes(), m) * per_minute;
      if (s_.minutes() >> m & 1u) n += bits_below(s_.seconds(), sec);
    }
    return n;
  }

  /// The latest matching time of day at or before `tod`, or -1.
  int last_time_at_or_before(int tod) const {
    const int h0 = tod / 3600, m0 = tod / 60 % 60, s0 = tod % 60;
    const int last_min = 63 - std::countl_zero(s_.minutes());
    const int last_sec = 63 - std::countl_zero(s_.seconds());
    int h = prev_bit(s_.hours(), h0);
    if (h < 0) return -1;
    if (h == h0) {
      int m = prev_bit(s_.minutes(), m0);
      if (m == m0) {
        const int sec = prev_bit(s_.seconds(), s0);
        if (sec >= 0) return h * 3600 + m * 60 + sec;
        m = prev_bit(s_.minutes(), m0 - 1);
      }
      if (m >= 0) return h * 3600 + m * 60 + last_sec;
      h = prev_bit(s_.hours(), h0 - 1);
      if (h < 0) return -1;
    }
    return h * 3600 + last_min * 60 + last_sec;
  }

  const CronSpec& s_;
  const std::int64_t per_day_;
};

/// The firings of one segment that lie in [lo, hi): the wall times in [from, until), plus the
/// segment's start when the daylight-saving rule moves skipped firings there.
struct Piece {
  local_seconds from, until;
  bool gap_firing = false;
};

Piece piece(const CronSpec& spec, const WallClock& wall, const date::time_zone& tz,
            const date::sys_info& info, sys_seconds lo, sys_seconds hi) {
  Piece p{to_local(lo, info.offset), to_local(hi, info.offset)};
  // next_fire()'s conditions, word for word, so that both agree on every instant.
  if (spec.fixed_time() && lo - info.begin < hours{48} && info.begin > kMinTime) {
    const seconds before = tz.get_info(info.begin - seconds{1}).offset;
    if (before < info.offset && lo == info.begin) {
      // Spring forward: one firing at the gap's end stands for the skipped wall times.
      p.gap_firing =
          wall.count(to_local(info.begin, before), to_local(info.begin, info.offset)) > 0;
    } else if (before > info.offset) {
      // Fall back: the repeated wall times fired in the previous segment.
      p.from = std::max(p.from, to_local(info.begin, before));
    }
  }
  return p;
}

}  // namespace

std::int64_t count_fires(const CronSpec& spec, sys_seconds after, sys_seconds until,
                         const date::time_zone& tz) {
  const WallClock wall(spec);
  if (wall.never()) return 0;
  const sys_seconds lo = std::max(after + seconds{1}, kMinTime);
  const sys_seconds hi = std::min(until + seconds{1}, kMaxTime);
  std::int64_t n = 0;
  for (sys_seconds t = lo; t < hi;) {
    const date::sys_info info = tz.get_info(t);
    const sys_seconds end = std::min(info.end, hi);
    const Piece p = piece(spec, wall, tz, info, t, end);
    n += wall.count(p.from, p.until);
    // The moved firing may coincide with a regular one at the segment's start.
    if (p.gap_firing && wall.count(p.from, p.from + seconds{1}) == 0) ++n;
    t = end;
  }
  return n;
}

std::optional<sys_seconds> last_fire(const CronSpec& spec, sys_seconds after, sys_seconds until,
                                     const date::time_zone& tz) {
  const WallClock wall(spec);
  if (wall.never()) return std::nullopt;
  const sys_seconds lo = std::max(after + seconds{1}, kMinTime);
  for (sys_seconds hi = std::min(until + seconds{1}, kMaxTime); hi > lo;) {
    const date::sys_info info = tz.get_info(hi - seconds{1});
    const sys_seconds start = std::max(info.begin, lo);
    const Piece p = piece(spec, wall, tz, info, start, hi);
    if (auto w = wall.last(p.from, p.until))
      return sys_seconds{w->time_since_epoch() - info.offset};
    if (p.gap_firing) return info.begin;
    hi = start;
  }
  return std::nullopt;
}

}  // namespace kairos::schedule

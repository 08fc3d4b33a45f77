#include "schedule/rfc3339.h"

#include <cstdio>
#include <cstdlib>

#include <date/date.h>

namespace kairos::schedule {

using std::chrono::seconds;
using std::chrono::sys_seconds;

std::string format_rfc3339(sys_seconds t, const date::time_zone& tz) {
  const seconds offset = tz.get_info(t).offset;
  const date::local_seconds local{t.time_since_epoch() + offset};
  const date::local_days day = std::chrono::floor<date::days>(local);
  const date::year_month_day ymd{day};
  const long long tod = (local - day).count();
  const long long off = offset.count() < 0 ? -offset.count() : offset.count();
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lld%c%02lld:%02lld",
                        static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                        static_cast<unsigned>(ymd.day()), tod / 3600, tod / 60 % 60, tod % 60,
                        offset.count() < 0 ? '-' : '+', off / 3600, off / 60 % 60);
  if (off % 60 != 0 && n > 0 && n < static_cast<int>(sizeof buf)) {
    std::snprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), ":%02lld", off % 60);
  }
  return buf;
}

namespace {

// A tiny cursor over the text: each reader consumes exactly what RFC 3339 allows there.
struct Cursor {
  std::string_view text;
  std::size_t pos = 0;

  bool digits(int count, int& out) {
    out = 0;
    for (int i = 0; i < count; ++i) {
      if (pos >= text.size() || text[pos] < '0' || text[pos] > '9') return false;
      out = out * 10 + (text[pos++] - '0');
    }
    return true;
  }
  bool literal(char c) {
    if (pos >= text.size() || text[pos] != c) return false;
    ++pos;
    return true;
  }
  bool one_of(std::string_view chars, char& out) {
    if (pos >= text.size() || chars.find(text[pos]) == std::string_view::npos) return false;
    out = text[pos++];
    return true;
  }
};

}  // namespace

std::optional<Instant> parse_rfc3339(std::string_view text, std::string* error) {
  auto fail = [&](const std::string& why) -> std::optional<Instant> {
    if (error) {
      *error = "invalid time '" + std::string(text) + "': " + why +
               " (expected RFC 3339 like 2027-01-01T03:00:00+01:00 or ...Z)";
    }
    return std::nullopt;
  };
  Cursor c{text};
  int year, month, day, hour, minute, second;
  char sep;
  if (!c.digits(4, year) || !c.literal('-') || !c.digits(2, month) || !c.literal('-') ||
      !c.digits(2, day)) {
    return fail("bad date");
  }
  if (!c.one_of("Tt ", sep)) return fail("missing time");
  if (!c.digits(2, hour) || !c.literal(':') || !c.digits(2, minute) || !c.literal(':') ||
      !c.digits(2, second)) {
    return fail("bad time of day");
  }
  int millis = 0;
  if (c.literal('.')) {
    int scale = 100, digit = 0, count = 0;
    while (c.digits(1, digit)) {
      millis += digit * scale;
      scale /= 10;
      ++count;
    }
    if (count == 0) return fail("bad fraction");
  }
  int offset_minutes = 0;
  char zone;
  if (c.one_of("Zz", zone)) {
    offset_minutes = 0;
  } else if (c.one_of("+-", zone)) {
    int oh, om;
    if (!c.digits(2, oh) || !c.literal(':') || !c.digits(2, om) || oh > 23 || om > 59) {
      return fail("bad offset");
    }
    offset_minutes = (oh * 60 + om) * (zone == '-' ? -1 : 1);
  } else {
    return fail("missing offset");
  }
  if (c.pos != text.size()) return fail("trailing characters");
  const date::year_month_day ymd{date::year{year}, date::month{static_cast<unsigned>(month)},
                                 date::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return fail("no such date");
  if (hour > 23 || minute > 59) return fail("bad time of day");
  // POSIX time, which kairos schedules on, has no leap seconds: `:60` names no instant.
  if (second > 59) return fail("leap seconds are not supported");
  using namespace std::chrono;
  const auto local = date::sys_days{ymd} + hours{hour} + minutes{minute} + seconds{second};
  return time_point_cast<milliseconds>(local) + milliseconds{millis} - minutes{offset_minutes};
}

std::string format_rfc3339_utc(Instant t) {
  const auto day = std::chrono::floor<date::days>(t);
  const date::year_month_day ymd{day};
  const date::hh_mm_ss tod{t - day};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(tod.hours().count()), static_cast<int>(tod.minutes().count()),
                static_cast<int>(tod.seconds().count()));
  std::string out = buf;
  if (const auto ms = tod.subseconds().count(); ms != 0) {
    std::snprintf(buf, sizeof buf, ".%03d", static_cast<int>(ms));
    out += buf;
  }
  return out + "Z";
}

}  // namespace kairos::schedule

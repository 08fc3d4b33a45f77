#include "schedule/rfc3339.h"

#include <cstdio>
#include <cstdlib>

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

// Reads exactly `width` digits at text[pos].
bool digits(std::string_view text, std::size_t& pos, int width, int& value) {
  value = 0;
  for (int i = 0; i < width; ++i, ++pos) {
    if (pos >= text.size() || text[pos] < '0' || text[pos] > '9') return false;
    value = value * 10 + (text[pos] - '0');
  }
  return true;
}

bool expect(std::string_view text, std::size_t& pos, std::string_view chars) {
  if (pos < text.size() && chars.find(text[pos]) != std::string_view::npos) {
    ++pos;
    return true;
  }
  return false;
}

}  // namespace

std::optional<sys_seconds> parse_rfc3339(std::string_view text, std::string* error) {
  auto fail = [&](const std::string& why) -> std::optional<sys_seconds> {
    if (error != nullptr) {
      *error = "invalid RFC 3339 timestamp '" + std::string(text) + "': " + why +
               " (expected e.g. 2026-03-29T03:00:00+02:00)";
    }
    return std::nullopt;
  };
  std::size_t pos = 0;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (!digits(text, pos, 4, y) || !expect(text, pos, "-") || !digits(text, pos, 2, mo) ||
      !expect(text, pos, "-") || !digits(text, pos, 2, d)) {
    return fail("bad date");
  }
  if (!expect(text, pos, "Tt ")) return fail("expected 'T' after the date");
  if (!digits(text, pos, 2, h) || !expect(text, pos, ":") || !digits(text, pos, 2, mi) ||
      !expect(text, pos, ":") || !digits(text, pos, 2, s)) {
    return fail("bad time of day");
  }
  if (pos < text.size() && text[pos] == '.') {
    const std::size_t start = ++pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
    if (pos == start) return fail("expected digits after '.'");
  }
  long long offset = 0;
  if (expect(text, pos, "Zz")) {
    offset = 0;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const bool negative = text[pos++] == '-';
    int oh = 0, om = 0;
    if (!digits(text, pos, 2, oh) || !expect(text, pos, ":") || !digits(text, pos, 2, om) ||
        oh > 23 || om > 59) {
      return fail("bad UTC offset");
    }
    offset = (oh * 3600LL + om * 60LL) * (negative ? -1 : 1);
  } else {
    return fail("missing UTC offset ('Z' or ±hh:mm)");
  }
  if (pos != text.size()) return fail("unexpected text after the offset");
  const date::year_month_day ymd{date::year{y}, date::month{static_cast<unsigned>(mo)},
                                 date::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return fail("no such date");
  // 60 is allowed for a leap second; it reads as the first second of the next minute.
  if (h > 23 || mi > 59 || s > 60) return fail("time of day out of range");
  const auto local =
      date::sys_days{ymd} + std::chrono::hours{h} + std::chrono::minutes{mi} + seconds{s};
  return sys_seconds{local - seconds{offset}};
}

}  // namespace kairos::schedule

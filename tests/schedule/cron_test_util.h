// Helpers shared by the schedule tests.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "schedule/cron.h"

namespace kairos::schedule::testing_util {

/// The first `count` firings of `expr` in `zone` strictly after `after` (RFC 3339), formatted
/// with the zone's offset; "never" marks the end.
inline std::vector<std::string> firings(const char* expr, const char* zone, const char* after,
                                        std::size_t count) {
  auto parsed = parse_cron(expr);
  if (auto* e = std::get_if<CronError>(&parsed)) return {"error: " + e->message};
  const CronSpec& spec = std::get<CronSpec>(parsed);
  const date::time_zone* tz = date::locate_zone(zone);
  std::string error;
  auto parsed_after = parse_rfc3339(after, &error);
  if (!parsed_after) return {"error: " + error};
  std::optional<std::chrono::sys_seconds> t = std::chrono::floor<std::chrono::seconds>(*parsed_after);
  std::vector<std::string> out;
  while (out.size() < count) {
    auto next = next_fire(spec, *t, *tz);
    if (!next) {
      out.push_back("never");
      break;
    }
    if (*next <= *t) {
      out.push_back("not increasing");
      break;
    }
    t = next;
    out.push_back(format_rfc3339(*t, *tz));
  }
  return out;
}

struct FiringCase {
  const char* zone;
  const char* expr;
  const char* after;
  std::vector<std::string> expected;
};

inline void PrintTo(const FiringCase& c, std::ostream* os) {
  *os << c.zone << " '" << c.expr << "' after " << c.after;
}

}  // namespace kairos::schedule::testing_util

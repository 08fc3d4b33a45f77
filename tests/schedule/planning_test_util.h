// Helpers shared by the planner and catch-up tests: schedules built in one line, instants
// written in RFC 3339.
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <cstring>
#include <memory>
#include <string>

#include "config/job_spec.h"
#include "schedule/planner.h"

namespace kairos::schedule::testing_util {

/// The instant of an RFC 3339 text, in milliseconds; the test fails on a typo.
inline Millis ms(const char* rfc3339) {
  std::string error;
  auto t = parse_rfc3339(rfc3339, &error);
  EXPECT_TRUE(t.has_value()) << rfc3339 << ": " << error;
  return t ? t->time_since_epoch().count() : 0;
}

/// UTC, whole seconds: "2026-01-01T00:00:00+00:00".
inline std::string utc(Millis t) {
  return format_instant(t, nullptr);
}

inline std::shared_ptr<const config::Schedule> every(config::Duration period) {
  auto s = std::make_shared<config::Schedule>();
  s->kind = config::ScheduleKind::every;
  s->every = period;
  return s;
}

inline std::shared_ptr<const config::Schedule> cron(const char* expr, const char* zone = "UTC") {
  auto s = std::make_shared<config::Schedule>();
  s->kind = config::ScheduleKind::cron;
  s->cron = expr;
  s->timezone = zone;
  return s;
}

inline std::shared_ptr<const config::Schedule> at(const char* rfc3339) {
  auto s = std::make_shared<config::Schedule>();
  s->kind = config::ScheduleKind::at;
  s->at = config::TimePoint{std::chrono::milliseconds{ms(rfc3339)}};
  return s;
}

inline std::shared_ptr<const config::Schedule> after(config::Duration delay) {
  auto s = std::make_shared<config::Schedule>();
  s->kind = config::ScheduleKind::after;
  s->after = delay;
  return s;
}

}  // namespace kairos::schedule::testing_util

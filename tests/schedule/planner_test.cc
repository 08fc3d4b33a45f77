#include "schedule/planner.h"

#include <gtest/gtest.h>

#include <vector>

#include "planning_test_util.h"

namespace kairos::schedule {
namespace {

using namespace testing_util;
using namespace std::chrono_literals;

constexpr const char* kNever = "never";

struct NextCase {
  const char* name;
  std::shared_ptr<const config::Schedule> schedule;
  const char* loaded_at;
  const char* anchor;
  const char* t;
  const char* expected;  // kNever when nullopt
};

void PrintTo(const NextCase& c, std::ostream* os) {
  *os << c.name;
}

class PlannerNextAfter : public ::testing::TestWithParam<NextCase> {};

TEST_P(PlannerNextAfter, Matches) {
  const NextCase& c = GetParam();
  Planner p(c.schedule, ms(c.loaded_at), ms(c.anchor));
  auto next = p.next_after(ms(c.t));
  EXPECT_EQ(next ? utc(*next) : kNever, c.expected);
}

const char* const kT0 = "2026-01-01T00:00:00Z";

INSTANTIATE_TEST_SUITE_P(
    Table, PlannerNextAfter,
    ::testing::Values(NextCase{"after_pending", after(30s), kT0, kT0, "2026-01-01T00:00:10Z",
                               "2026-01-01T00:00:30+00:00"},
                      NextCase{"after_fired", after(30s), kT0, kT0, "2026-01-01T00:00:30Z", kNever},
                      NextCase{"at_pending", at("2026-05-01T10:00:00Z"), kT0, kT0, kT0,
                               "2026-05-01T10:00:00+00:00"},
                      NextCase{"at_exactly", at("2026-05-01T10:00:00Z"), kT0, kT0,
                               "2026-05-01T10:00:00Z", kNever},
                      NextCase{"every_before_anchor", every(1h), kT0, kT0, "2025-12-31T12:00:00Z",
                               "2026-01-01T01:00:00+00:00"},
                      NextCase{"every_on_firing", every(1h), kT0, kT0, "2026-01-01T03:00:00Z",
                               "2026-01-01T04:00:00+00:00"},
                      NextCase{"every_between", every(1h), kT0, "2026-01-01T00:20:00Z",
                               "2026-01-01T03:30:00Z", "2026-01-01T04:20:00+00:00"},
                      NextCase{"every_anchor_is_not_a_firing", every(1h), kT0, kT0, kT0,
                               "2026-01-01T01:00:00+00:00"},
                      NextCase{"cron_utc", cron("30 2 * * *"), kT0, kT0, kT0,
                               "2026-01-01T02:30:00+00:00"},
                      NextCase{"cron_berlin", cron("30 2 * * *", "Europe/Berlin"), kT0, kT0, kT0,
                               "2026-01-01T01:30:00+00:00"},
                      NextCase{"cron_berlin_spring_forward", cron("30 2 * * *", "Europe/Berlin"),
                               kT0, kT0, "2026-03-28T12:00:00Z", "2026-03-29T01:00:00+00:00"},
                      NextCase{"cron_fraction_of_second", cron("* * * * * *"), kT0, kT0,
                               "2026-01-01T00:00:00.999Z", "2026-01-01T00:00:01+00:00"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Planner, DescribesItsSchedule) {
  EXPECT_EQ(Planner(cron("30 2 * * *", "Europe/Berlin"), 0, 0).describe(),
            "cron 30 2 * * * (Europe/Berlin)");
  EXPECT_EQ(Planner(every(5min), 0, 0).describe(), "every 5m");
}

TEST(Planner, ZoneOnlyForCron) {
  EXPECT_EQ(Planner(cron("0 * * * *", "Europe/Berlin"), 0, 0).zone()->name(), "Europe/Berlin");
  EXPECT_EQ(Planner(every(1s), 0, 0).zone(), nullptr);
  EXPECT_EQ(Planner(every(1s), 0, 1234).anchor(), 1234);
}

TEST(Planner, RejectsABadExpression) {
  EXPECT_THROW(Planner(cron("61 * * * *"), 0, 0), std::runtime_error);
}

TEST(FormatInstant, UtcWhenNoZoneElseTheZonesOffset) {
  const Millis t = ms("2026-07-01T12:00:00.750Z");
  EXPECT_EQ(format_instant(t, nullptr), "2026-07-01T12:00:00+00:00");
  EXPECT_EQ(format_instant(t, date::locate_zone("Europe/Berlin")), "2026-07-01T14:00:00+02:00");
}

}  // namespace
}  // namespace kairos::schedule

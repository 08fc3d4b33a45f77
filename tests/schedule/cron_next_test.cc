// next_fire on fixed instants: month ends, leap years, L/W/# on edge months, the OR rule.
#include "cron_test_util.h"

namespace kairos::schedule {
namespace {

using testing_util::FiringCase;

class CronNext : public testing::TestWithParam<FiringCase> {};

TEST_P(CronNext, Firings) {
  const FiringCase& c = GetParam();
  EXPECT_EQ(testing_util::firings(c.expr, c.zone, c.after, c.expected.size()), c.expected);
}

INSTANTIATE_TEST_SUITE_P(
    Table, CronNext,
    testing::Values(
        FiringCase{"UTC",
                   "0 0 * * *",
                   "2026-01-01T00:00:00Z",  // strictly after
                   {"2026-01-02T00:00:00+00:00"}},
        FiringCase{"UTC", "0 0 1 1 *", "2026-12-31T23:59:59Z", {"2027-01-01T00:00:00+00:00"}},
        FiringCase{"UTC", "59 23 31 12 *", "2026-12-31T23:59:00Z", {"2027-12-31T23:59:00+00:00"}},
        FiringCase{"UTC",
                   "*/20 * * * * *",
                   "2026-05-05T12:00:50Z",
                   {"2026-05-05T12:01:00+00:00", "2026-05-05T12:01:20+00:00"}},
        FiringCase{"UTC",
                   "0 0 31 * *",
                   "2026-01-31T00:00:00Z",
                   {"2026-03-31T00:00:00+00:00", "2026-05-31T00:00:00+00:00",
                    "2026-07-31T00:00:00+00:00", "2026-08-31T00:00:00+00:00"}},
        FiringCase{"UTC",
                   "0 0 29 2 *",
                   "2026-01-01T00:00:00Z",
                   {"2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00"}},
        FiringCase{"UTC",
                   "0 0 29 2 *",
                   "2096-03-01T00:00:00Z",  // 2100 is not a leap year
                   {"2104-02-29T00:00:00+00:00"}},
        FiringCase{"UTC", "0 0 29 2 *", "8999-06-01T00:00:00Z", {"never"}},  // bounded search
        FiringCase{"UTC",
                   "0 0 L * *",
                   "2027-12-31T12:00:00Z",
                   {"2028-01-31T00:00:00+00:00", "2028-02-29T00:00:00+00:00",
                    "2028-03-31T00:00:00+00:00", "2028-04-30T00:00:00+00:00"}},
        FiringCase{"UTC",
                   "0 0 L-1 2 *",
                   "2026-01-01T00:00:00Z",
                   {"2026-02-27T00:00:00+00:00", "2027-02-27T00:00:00+00:00",
                    "2028-02-28T00:00:00+00:00"}},
        // 2026-01-31 and 2026-02-28 are Saturdays, 2026-05-31 a Sunday.
        FiringCase{"UTC",
                   "0 0 LW * *",
                   "2026-01-01T00:00:00Z",
                   {"2026-01-30T00:00:00+00:00", "2026-02-27T00:00:00+00:00"}},
        FiringCase{"UTC", "0 0 LW 5 *", "2026-01-01T00:00:00Z", {"2026-05-29T00:00:00+00:00"}},
        // 2026-08-01 is a Saturday: 1W moves forward to Monday the 3rd, not back into July.
        FiringCase{"UTC", "0 0 1W 8 *", "2026-01-01T00:00:00Z", {"2026-08-03T00:00:00+00:00"}},
        // 2026-02-01 is a Sunday.
        FiringCase{"UTC", "0 0 1W 2 *", "2026-01-01T00:00:00Z", {"2026-02-02T00:00:00+00:00"}},
        // 2026-05-31 is a Sunday: 31W moves back to Friday the 29th, not into June.
        FiringCase{"UTC", "0 0 31W 5 *", "2026-01-01T00:00:00Z", {"2026-05-29T00:00:00+00:00"}},
        FiringCase{"UTC",
                   "0 0 28W 2 *",
                   "2026-01-01T00:00:00Z",
                   {"2026-02-27T00:00:00+00:00", "2027-02-26T00:00:00+00:00"}},
        FiringCase{"UTC",
                   "0 0 15W * *",
                   "2026-03-01T00:00:00Z",  // 2026-03-15 is a Sunday
                   {"2026-03-16T00:00:00+00:00", "2026-04-15T00:00:00+00:00"}},
        FiringCase{"UTC",
                   "0 0 * * 5L",
                   "2026-01-01T00:00:00Z",
                   {"2026-01-30T00:00:00+00:00", "2026-02-27T00:00:00+00:00"}},
        FiringCase{"UTC",
                   "0 0 * 2 0L",
                   "2026-01-01T00:00:00Z",  // leap February, Sunday 29th
                   {"2026-02-22T00:00:00+00:00", "2027-02-28T00:00:00+00:00",
                    "2028-02-27T00:00:00+00:00"}},
        FiringCase{"UTC", "0 0 * 2 0#5", "2026-01-01T00:00:00Z", {"2032-02-29T00:00:00+00:00"}},
        FiringCase{"UTC", "0 0 * * 1#5", "2026-01-01T00:00:00Z", {"2026-03-30T00:00:00+00:00"}},
        FiringCase{"UTC",
                   "0 0 * * MON#1",
                   "2026-01-01T00:00:00Z",
                   {"2026-01-05T00:00:00+00:00", "2026-02-02T00:00:00+00:00"}},
        // OR: the 13th or any Friday.
        FiringCase{"UTC",
                   "0 0 13 * 5",
                   "2026-02-01T00:00:00Z",
                   {"2026-02-06T00:00:00+00:00", "2026-02-13T00:00:00+00:00",
                    "2026-02-20T00:00:00+00:00", "2026-02-27T00:00:00+00:00",
                    "2026-03-06T00:00:00+00:00", "2026-03-13T00:00:00+00:00"}},
        // AND (day-of-month starts with '*'): odd days that are Mondays.
        FiringCase{"UTC",
                   "0 0 */2 * 1",
                   "2026-01-01T00:00:00Z",
                   {"2026-01-05T00:00:00+00:00", "2026-01-19T00:00:00+00:00",
                    "2026-02-09T00:00:00+00:00", "2026-02-23T00:00:00+00:00"}},
        // OR (1-31/2 is restricted): odd days or Mondays.
        FiringCase{
            "UTC",
            "0 0 1-31/2 * 1",
            "2026-01-01T00:00:00Z",
            {"2026-01-03T00:00:00+00:00", "2026-01-05T00:00:00+00:00", "2026-01-07T00:00:00+00:00",
             "2026-01-09T00:00:00+00:00", "2026-01-11T00:00:00+00:00", "2026-01-12T00:00:00+00:00",
             "2026-01-13T00:00:00+00:00"}},
        // OR with an impossible day-of-month: only the Mondays of February.
        FiringCase{"UTC",
                   "0 0 30 2 MON",
                   "2026-01-01T00:00:00Z",
                   {"2026-02-02T00:00:00+00:00", "2026-02-09T00:00:00+00:00"}},
        FiringCase{"UTC", "0 0 ? * ?", "2026-01-01T00:00:00Z", {"2026-01-02T00:00:00+00:00"}},
        FiringCase{"UTC", "@weekly", "2026-01-01T00:00:00Z", {"2026-01-04T00:00:00+00:00"}},
        FiringCase{"UTC", "@monthly", "2026-01-01T00:00:00Z", {"2026-02-01T00:00:00+00:00"}},
        FiringCase{"UTC", "@yearly", "2026-01-01T00:00:00Z", {"2027-01-01T00:00:00+00:00"}},
        FiringCase{"UTC", "@hourly", "2026-01-01T00:59:59Z", {"2026-01-01T01:00:00+00:00"}},
        FiringCase{"Asia/Kolkata",
                   "30 2 * * *",
                   "2026-03-28T00:00:00Z",
                   {"2026-03-29T02:30:00+05:30", "2026-03-30T02:30:00+05:30"}},
        FiringCase{"Asia/Kolkata",
                   "0 9 * * MON-FRI",
                   "2026-10-23T09:00:00+05:30",
                   {"2026-10-26T09:00:00+05:30"}}));

TEST(CronNext, StartsBeforeYearOne) {
  auto spec = std::get<CronSpec>(parse_cron("0 0 1 1 *"));
  auto next = next_fire(spec, std::chrono::sys_seconds::min(), *date::locate_zone("UTC"));
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(*next, date::sys_days{date::year{1} / 1 / 1});
}

TEST(CronNext, DefaultConstructedSpecNeverFires) {
  EXPECT_FALSE(next_fire(CronSpec{}, std::chrono::sys_seconds{}, *date::locate_zone("UTC")));
}

TEST(CronNext, NeverAfterTheSupportedRange) {
  auto spec = std::get<CronSpec>(parse_cron("* * * * *"));
  EXPECT_FALSE(next_fire(spec, std::chrono::sys_seconds::max(), *date::locate_zone("UTC")));
}

}  // namespace
}  // namespace kairos::schedule

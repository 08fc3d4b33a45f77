// kairosctl's human time formats on fixed instants, so no case depends on when the suite
// runs: the clock-time form switches at local midnight, not UTC midnight.
#include "cli/format.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace kairos::cli {
namespace {

using namespace std::chrono;

std::int64_t at(date::local_seconds local) {
  // Europe/Berlin in December is UTC+1.
  return duration_cast<milliseconds>((local - hours(1)).time_since_epoch()).count();
}

date::local_seconds day(int y, int m, int d) {
  return date::local_days{date::year(y) / m / d};
}

class FormatTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // local_zone() is decided once per process; each test runs in its own process under
    // ctest, and every test here wants the same zone.
    ::setenv("TZ", "Europe/Berlin", 1);
    ASSERT_EQ(local_zone().name(), "Europe/Berlin");
  }
};

TEST_F(FormatTest, LocalTimeIsSecondsTodayWeekdayThisWeekAndADateBeyond) {
  const std::int64_t now = at(day(2026, 12, 1) + hours(23) + minutes(59) + seconds(40));
  EXPECT_EQ(local_time(now + 19'000, now), "23:59:59");
  EXPECT_EQ(local_time(now + 30'000, now), "Wed 00:00");  // 2026-12-02 00:00:10
  EXPECT_EQ(local_time(at(day(2026, 12, 7) + hours(6)), now), "Mon 06:00");
  EXPECT_EQ(local_time(at(day(2026, 12, 8) + hours(6)), now), "2026-12-08 06:00");
  EXPECT_EQ(local_time(at(day(2026, 11, 30) + hours(12)), now), "Mon 12:00");
  EXPECT_EQ(local_time(at(day(2026, 11, 24) + hours(12)), now), "2026-11-24 12:00");
}

TEST_F(FormatTest, TheDayIsTheLocalDayNotTheUtcDay) {
  // 00:30 on 2 December in Berlin is still 1 December in UTC.
  const std::int64_t now = at(day(2026, 12, 2) + minutes(30));
  EXPECT_EQ(local_time(at(day(2026, 12, 1) + hours(23) + minutes(50)), now), "Tue 23:50");
  EXPECT_EQ(local_time(at(day(2026, 12, 2) + minutes(10)), now), "00:10:00");
  EXPECT_EQ(local_datetime(at(day(2026, 12, 2) + minutes(10))), "2026-12-02 00:10:00");
}

TEST_F(FormatTest, RelativeTimesAreCoarseAndSayNowBelowASecond) {
  const std::int64_t now = at(day(2026, 12, 1) + hours(12));
  EXPECT_EQ(relative(now, now), "now");
  EXPECT_EQ(relative(now + 999, now), "now");
  EXPECT_EQ(relative(now + 29'400, now), "in 29s");
  EXPECT_EQ(relative(now - 185'000, now), "3m ago");
  EXPECT_EQ(relative(now + 5'400'000, now), "in 1h30m");
  EXPECT_EQ(relative(now - 2 * 86'400'000 - 4 * 3'600'000, now), "2d4h ago");
}

TEST_F(FormatTest, ShortDurationKeepsTwoAdjacentUnits) {
  EXPECT_EQ(short_duration(250), "0s");
  EXPECT_EQ(short_duration(250, true), "250ms");
  EXPECT_EQ(short_duration(2'340, true), "2.3s");
  EXPECT_EQ(short_duration(42'000), "42s");
  EXPECT_EQ(short_duration(7'200'000 + 5'000), "2h");
  EXPECT_EQ(short_duration(5'400'000), "1h30m");
  EXPECT_EQ(short_duration(-60'000), "1m");
}

}  // namespace
}  // namespace kairos::cli

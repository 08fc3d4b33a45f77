// Durations, sizes and RFC 3339 instants: parse -> format -> parse round trips.
#include <gtest/gtest.h>

#include "config/describe.h"
#include "config/loader.h"
#include "schedule/rfc3339.h"
#include "config/suggest.h"

namespace kairos::config {
namespace {

using namespace std::chrono_literals;
using schedule::format_rfc3339_utc;
using schedule::parse_rfc3339;

TEST(Duration, ParsesEveryUnit) {
  EXPECT_EQ(parse_duration("250ms"), Duration{250});
  EXPECT_EQ(parse_duration("30s"), Duration{30s});
  EXPECT_EQ(parse_duration("5m"), Duration{5min});
  EXPECT_EQ(parse_duration("1h30m"), Duration{90min});
  EXPECT_EQ(parse_duration("2d"), Duration{48h});
  EXPECT_EQ(parse_duration("0"), Duration{0});
  EXPECT_EQ(parse_duration("0s"), Duration{0});
  EXPECT_EQ(parse_duration("1d2h3m4s5ms"), Duration{26h + 3min + 4s + 5ms});
}

TEST(Duration, RejectsMalformedText) {
  for (const char* bad : {"", "30", "s", "1.5h", "-1s", "30m1h", "1h1h", "5x", "1 h", "1h ",
                          "99999999999999999999d", "3000000000000d"}) {
    std::string error;
    EXPECT_EQ(parse_duration(bad, &error), std::nullopt) << bad;
    EXPECT_NE(error.find("invalid duration"), std::string::npos) << bad << ": " << error;
  }
  std::string error;
  parse_duration("30", &error);
  EXPECT_EQ(error, "invalid duration '30': missing unit (e.g. 30s)");
}

TEST(Duration, FormatIsShortestAndRoundTrips) {
  EXPECT_EQ(format_duration(Duration{0}), "0s");
  EXPECT_EQ(format_duration(Duration{250}), "250ms");
  EXPECT_EQ(format_duration(Duration{90min}), "1h30m");
  EXPECT_EQ(format_duration(Duration{90 * 24h}), "90d");
  EXPECT_EQ(format_duration(Duration{1500}), "1s500ms");
  EXPECT_EQ(format_duration(Duration{-30s}), "-30s");
  for (std::int64_t ms :
       {1LL, 999LL, 1000LL, 61'000LL, 3'600'000LL, 86'400'001LL, 123'456'789'012LL}) {
    EXPECT_EQ(parse_duration(format_duration(Duration{ms})), Duration{ms}) << ms;
  }
}

TEST(Size, ParsesUnits) {
  EXPECT_EQ(parse_size("512"), 512u);
  EXPECT_EQ(parse_size("512B"), 512u);
  EXPECT_EQ(parse_size("64KiB"), 65536u);
  EXPECT_EQ(parse_size("1MiB"), 1048576u);
  EXPECT_EQ(parse_size("2GiB"), 2147483648u);
  EXPECT_EQ(parse_size("64KB"), 64000u);
  EXPECT_EQ(parse_size("1MB"), 1000000u);
  EXPECT_EQ(parse_size("0"), 0u);
  for (const char* bad : {"", "KiB", "1.5MiB", "-1", "64kib", "64 KiB", "1XB", "99999999999TiB"}) {
    std::string error;
    EXPECT_EQ(parse_size(bad, &error), std::nullopt) << bad;
    EXPECT_NE(error.find("invalid size"), std::string::npos) << bad;
  }
}

TEST(Size, FormatRoundTrips) {
  EXPECT_EQ(format_size(0), "0");
  EXPECT_EQ(format_size(512), "512");
  EXPECT_EQ(format_size(65536), "64KiB");
  EXPECT_EQ(format_size(1000), "1000");
  EXPECT_EQ(format_size(3u << 30), "3GiB");
  for (std::uint64_t n : {1ull, 1023ull, 1024ull, 1536ull, 1ull << 40, 5ull << 41}) {
    EXPECT_EQ(parse_size(format_size(n)), n) << n;
  }
}

TEST(Rfc3339, ParsesOffsetsAndZulu) {
  const auto utc = parse_rfc3339("2027-01-01T02:00:00Z");
  ASSERT_TRUE(utc);
  EXPECT_EQ(parse_rfc3339("2027-01-01T03:00:00+01:00"), utc);
  EXPECT_EQ(parse_rfc3339("2026-12-31T21:30:00-04:30"), utc);
  EXPECT_EQ(parse_rfc3339("2027-01-01t02:00:00z"), utc);
  EXPECT_EQ(parse_rfc3339("2027-01-01 02:00:00Z"), utc);
  EXPECT_EQ(parse_rfc3339("2027-01-01T02:00:00.25Z"), *utc + std::chrono::milliseconds{250});
  EXPECT_EQ(format_rfc3339_utc(*utc), "2027-01-01T02:00:00Z");
  EXPECT_EQ(format_rfc3339_utc(*utc + std::chrono::milliseconds{7}), "2027-01-01T02:00:00.007Z");
  EXPECT_EQ(parse_rfc3339(format_rfc3339_utc(*utc + std::chrono::milliseconds{7})),
            *utc + std::chrono::milliseconds{7});
}

TEST(Rfc3339, RejectsIncompleteOrImpossibleTimes) {
  for (const char* bad :
       {"2027-01-01T03:00:00", "2027-01-01", "2027-02-30T00:00:00Z", "2027-01-01T24:00:00Z",
        "2027-01-01T23:60:00Z", "2027-01-01T23:59:60Z", "2027-01-01T00:00:00+1:00",
        "2027-01-01T00:00:00Zjunk", "27-01-01T00:00:00Z", "tomorrow"}) {
    std::string error;
    EXPECT_EQ(parse_rfc3339(bad, &error), std::nullopt) << bad;
    EXPECT_NE(error.find("invalid time"), std::string::npos) << bad;
  }
}

TEST(Suggest, FindsCloseKeysOnly) {
  constexpr std::string_view keys[] = {"timeout", "schedule", "shell", "retry"};
  EXPECT_EQ(did_you_mean("timout", keys), " (did you mean 'timeout'?)");
  EXPECT_EQ(did_you_mean("shcedule", keys), " (did you mean 'schedule'?)");
  EXPECT_EQ(did_you_mean("Shell", keys), " (did you mean 'shell'?)");
  EXPECT_EQ(did_you_mean("banana", keys), "");
  EXPECT_EQ(did_you_mean("x", keys), "");
}

TEST(Describe, SchedulesReadLikeTheirYaml) {
  Schedule s;
  s.kind = ScheduleKind::after;
  s.after = 30s;
  EXPECT_EQ(describe(s), "after 30s");
  s.kind = ScheduleKind::every;
  s.every = 5min;
  EXPECT_EQ(describe(s), "every 5m");
  s.jitter = 15s;
  EXPECT_EQ(describe(s), "every 5m (jitter 15s)");
  s.kind = ScheduleKind::at;
  s.at = *parse_rfc3339("2027-01-01T03:00:00+01:00");
  EXPECT_EQ(describe(s), "at 2027-01-01T02:00:00Z");
  s.kind = ScheduleKind::cron;
  s.cron = "30 2 * * *";
  s.timezone = "Europe/Berlin";
  EXPECT_EQ(describe(s), "cron 30 2 * * * (Europe/Berlin)");
  EXPECT_EQ(to_string(Overlap::replace), "replace");
  EXPECT_EQ(to_string(CatchUpPolicy::last), "last");
  EXPECT_EQ(to_string(OnRemove::cancel), "cancel");
  EXPECT_EQ(to_string(ScheduleKind::cron), "cron");
}

}  // namespace
}  // namespace kairos::config

#include "schedule/rfc3339.h"

#include <gtest/gtest.h>

namespace kairos::schedule {
namespace {

using std::chrono::seconds;
using std::chrono::sys_seconds;

TEST(Rfc3339, FormatsWithNumericOffsetNeverZ) {
  const sys_seconds t = date::sys_days{date::year{2026} / 3 / 29} + seconds{3600};
  EXPECT_EQ(format_rfc3339(t, *date::locate_zone("Europe/Berlin")), "2026-03-29T03:00:00+02:00");
  EXPECT_EQ(format_rfc3339(t, *date::locate_zone("UTC")), "2026-03-29T01:00:00+00:00");
  EXPECT_EQ(format_rfc3339(t, *date::locate_zone("America/St_Johns")), "2026-03-28T22:30:00-02:30");
  EXPECT_EQ(format_rfc3339(t, *date::locate_zone("Pacific/Chatham")), "2026-03-29T14:45:00+13:45");
}

TEST(Rfc3339, ParsesOffsetsZuluAndFractions) {
  const sys_seconds expected = date::sys_days{date::year{2026} / 3 / 29} + seconds{3600};
  for (const char* text :
       {"2026-03-29T03:00:00+02:00", "2026-03-29T01:00:00Z", "2026-03-29t01:00:00z",
        "2026-03-29 01:00:00+00:00", "2026-03-29T01:00:00.999Z", "2026-03-28T22:30:00-02:30",
        "2026-03-29T01:00:00.1-00:00"}) {
    std::string error;
    auto parsed = parse_rfc3339(text, &error);
    ASSERT_TRUE(parsed.has_value()) << text << ": " << error;
    EXPECT_EQ(std::chrono::floor<seconds>(*parsed), expected) << text;
  }
}

TEST(Rfc3339, RejectsMalformedTextWithAReason) {
  for (const char* text :
       {"", "2026-03-29", "2026-03-29T01:00:00", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z",
        "2026-03-29T24:00:00Z", "2026-03-29T01:60:00Z", "2026-03-29T01:00:00+2:00",
        "2026-03-29T01:00:00+24:00", "2026-03-29T01:00:00Zjunk", "2026-03-29T01:00:00.Z",
        "26-03-29T01:00:00Z"}) {
    std::string error;
    EXPECT_FALSE(parse_rfc3339(text, &error).has_value()) << text;
    EXPECT_NE(error.find("invalid time"), std::string::npos) << text;
  }
  EXPECT_FALSE(parse_rfc3339("nope", nullptr).has_value());
}

// The configuration's parser and the CLI's used to disagree on these two.
TEST(Rfc3339, KeepsMillisecondsAndRefusesLeapSeconds) {
  auto t = parse_rfc3339("2026-03-29T01:00:00.1239Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->time_since_epoch().count() % 1000, 123);
  std::string error;
  EXPECT_FALSE(parse_rfc3339("2016-12-31T23:59:60Z", &error).has_value());
  EXPECT_NE(error.find("leap seconds are not supported"), std::string::npos) << error;
  EXPECT_EQ(format_rfc3339_utc(*t), "2026-03-29T01:00:00.123Z");
}

TEST(Rfc3339, RoundTripsThroughEveryZoneKind) {
  for (const char* zone : {"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
                           "Pacific/Chatham", "Asia/Kolkata"}) {
    const date::time_zone* tz = date::locate_zone(zone);
    for (long long s = 1'700'000'000; s < 1'800'000'000; s += 9'876'543) {
      const sys_seconds t{seconds{s}};
      EXPECT_EQ(parse_rfc3339(format_rfc3339(t, *tz), nullptr), t) << zone << " " << s;
    }
  }
}

}  // namespace
}  // namespace kairos::schedule

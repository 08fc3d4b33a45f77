// Every syntax element and every error message of the cron parser, table-driven.
#include <gtest/gtest.h>

#include "schedule/cron.h"

namespace kairos::schedule {
namespace {

struct SyntaxCase {
  const char* expr;
  const char* canonical;  // to_string() of the parsed spec
};

void PrintTo(const SyntaxCase& c, std::ostream* os) {
  *os << "'" << c.expr << "'";
}

class CronSyntax : public testing::TestWithParam<SyntaxCase> {};

TEST_P(CronSyntax, ParsesToCanonicalFormAndRoundTrips) {
  const SyntaxCase& c = GetParam();
  auto parsed = parse_cron(c.expr);
  ASSERT_TRUE(std::holds_alternative<CronSpec>(parsed)) << std::get<CronError>(parsed).message;
  const CronSpec& spec = std::get<CronSpec>(parsed);
  EXPECT_EQ(to_string(spec), c.canonical);
  EXPECT_EQ(spec.source(), c.expr);
  auto again = parse_cron(to_string(spec));
  ASSERT_TRUE(std::holds_alternative<CronSpec>(again));
  CronSpec reparsed = std::get<CronSpec>(again);
  EXPECT_EQ(to_string(reparsed), c.canonical);
  EXPECT_EQ(reparsed.fixed_time(), spec.fixed_time());
  EXPECT_EQ(reparsed.dom_star(), spec.dom_star());
  EXPECT_EQ(reparsed.dow_star(), spec.dow_star());
}

INSTANTIATE_TEST_SUITE_P(
    Table, CronSyntax,
    testing::Values(
        SyntaxCase{"* * * * *", "0 * * * * *"}, SyntaxCase{"5 4 * * *", "0 5 4 * * *"},
        SyntaxCase{"*/15 * * * *", "0 0,15,30,45 * * * *"},
        SyntaxCase{"0-10/3 * * * *", "0 0,3,6,9 * * * *"},
        SyntaxCase{"5/20 * * * *", "0 5,25,45 * * * *"},  // a/n runs to the maximum
        SyntaxCase{"1,2,3,10 * * * *", "0 1-3,10 * * * *"},
        SyntaxCase{"0 0 1 JAN *", "0 0 0 1 1 *"},
        SyntaxCase{"0 0 * jan-Mar,dec *", "0 0 0 * 1-3,12 *"},
        SyntaxCase{"0 0 * * MON-FRI", "0 0 0 * * 1-5"},
        SyntaxCase{"0 0 * * 7", "0 0 0 * * 0"},  // 7 is Sunday
        SyntaxCase{"0 0 * * 5-7", "0 0 0 * * 0,5,6"},
        SyntaxCase{"0 0 * * FRI-SUN", "0 0 0 * * 0,5,6"}, SyntaxCase{"0 0 * * sun", "0 0 0 * * 0"},
        SyntaxCase{"0 0 * * 1/2", "0 0 0 * * 1,3,5"},
        SyntaxCase{"0 0 * * 1-7/2", "0 0 0 * * 0,1,3,5"},
        SyntaxCase{"0 0 * * */2", "0 0 0 * * */2"}, SyntaxCase{"0 0 L * *", "0 0 0 L * *"},
        SyntaxCase{"0 0 l-3 * *", "0 0 0 L-3 * *"}, SyntaxCase{"0 0 LW * *", "0 0 0 LW * *"},
        SyntaxCase{"0 0 15w * *", "0 0 0 15W * *"}, SyntaxCase{"0 0 1,L * *", "0 0 0 1,L * *"},
        SyntaxCase{"0 0 * * 5L", "0 0 0 * * 5L"}, SyntaxCase{"0 0 * * FRIL", "0 0 0 * * 5L"},
        SyntaxCase{"0 0 * * 1#2", "0 0 0 * * 1#2"},
        SyntaxCase{"0 0 * * MON#2,fri#5", "0 0 0 * * 1#2,5#5"},
        SyntaxCase{"0 0 ? * MON", "0 0 0 * * 1"}, SyntaxCase{"30 15 10 * * *", "30 15 10 * * *"},
        SyntaxCase{"*/10 * * * * *", "0,10,20,30,40,50 * * * * *"},
        SyntaxCase{"0 0 */2 * 1", "0 0 0 */2 * 1"}, SyntaxCase{"0 0 *,5 * *", "0 0 0 * * *"},
        SyntaxCase{"  0\t0  * * *  ", "0 0 0 * * *"},
        SyntaxCase{"59 23 31 12 *", "0 59 23 31 12 *"},
        SyntaxCase{"0 0 29 2 *", "0 0 0 29 2 *"},  // leap years only, but it fires
        SyntaxCase{"0 0 30 2 1", "0 0 0 30 2 1"},  // OR rule: Mondays in February
        SyntaxCase{"00 07 * * *", "0 0 7 * * *"}, SyntaxCase{"@yearly", "0 0 0 1 1 *"},
        SyntaxCase{"@annually", "0 0 0 1 1 *"}, SyntaxCase{"@monthly", "0 0 0 1 * *"},
        SyntaxCase{"@weekly", "0 0 0 * * 0"}, SyntaxCase{"@daily", "0 0 0 * * *"},
        SyntaxCase{"@MIDNIGHT", "0 0 0 * * *"}, SyntaxCase{"@hourly", "0 0 * * * *"}));

struct FlagCase {
  const char* expr;
  bool fixed_time;
  bool dom_star;
  bool dow_star;
};

void PrintTo(const FlagCase& c, std::ostream* os) {
  *os << "'" << c.expr << "'";
}

class CronFlags : public testing::TestWithParam<FlagCase> {};

TEST_P(CronFlags, FollowDesignRules) {
  const FlagCase& c = GetParam();
  auto parsed = parse_cron(c.expr);
  ASSERT_TRUE(std::holds_alternative<CronSpec>(parsed)) << std::get<CronError>(parsed).message;
  const CronSpec& spec = std::get<CronSpec>(parsed);
  EXPECT_EQ(spec.fixed_time(), c.fixed_time);
  EXPECT_EQ(spec.dom_star(), c.dom_star);
  EXPECT_EQ(spec.dow_star(), c.dow_star);
}

// docs/cron.md rule 1 and cronie's star rule for the day fields.
INSTANTIATE_TEST_SUITE_P(
    Table, CronFlags,
    testing::Values(
        FlagCase{"30 2 * * *", true, true, true}, FlagCase{"0,30 1-3 * * *", true, true, true},
        FlagCase{"0 0-23/2 * * *", true, true, true}, FlagCase{"*/15 * * * *", false, true, true},
        FlagCase{"0 * * * *", false, true, true}, FlagCase{"? 3 * * *", false, true, true},
        FlagCase{"0 30 2 * * *", true, true, true}, FlagCase{"* 30 2 * * *", false, true, true},
        FlagCase{"@hourly", false, true, true}, FlagCase{"@daily", true, true, true},
        FlagCase{"@weekly", true, true, false}, FlagCase{"@monthly", true, false, true},
        FlagCase{"@yearly", true, false, true}, FlagCase{"0 0 */2 * 1", true, true, false},
        FlagCase{"0 0 1-31/2 * 1", true, false, false}, FlagCase{"0 0 ? * ?", true, true, true}));

struct ErrorCase {
  const char* expr;
  const char* message;
  int column;
};

void PrintTo(const ErrorCase& c, std::ostream* os) {
  *os << "'" << c.expr << "'";
}

class CronErrors : public testing::TestWithParam<ErrorCase> {};

TEST_P(CronErrors, NameFieldAndColumn) {
  const ErrorCase& c = GetParam();
  auto parsed = parse_cron(c.expr);
  ASSERT_TRUE(std::holds_alternative<CronError>(parsed)) << c.expr << " parsed";
  const CronError& e = std::get<CronError>(parsed);
  EXPECT_EQ(e.message, c.message);
  EXPECT_EQ(e.column, c.column);
}

INSTANTIATE_TEST_SUITE_P(
    Table, CronErrors,
    testing::Values(
        ErrorCase{"",
                  "empty expression: expected 5 or 6 fields or a macro such as @daily at column 1",
                  1},
        ErrorCase{"* * * *",
                  "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (with "
                  "leading seconds), got 4 at column 8",
                  8},
        ErrorCase{"* * * * * * *",
                  "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (with "
                  "leading seconds), got 7 at column 13",
                  13},
        ErrorCase{"@reboot",
                  "unknown macro '@reboot' (expected @yearly, @annually, @monthly, @weekly, "
                  "@daily, @midnight or @hourly) at column 1",
                  1},
        ErrorCase{"@daily *", "@daily takes no further fields at column 8", 8},
        ErrorCase{"60 * * * *", "minute: 60 is out of range 0-59 at column 1", 1},
        ErrorCase{"0 24 * * *", "hour: 24 is out of range 0-23 at column 3", 3},
        ErrorCase{"0 0 0 * *", "day-of-month: 0 is out of range 1-31 at column 5", 5},
        ErrorCase{"0 0 32 * *", "day-of-month: 32 is out of range 1-31 at column 5", 5},
        ErrorCase{"0 0 * 13 *", "month: 13 is out of range 1-12 at column 7", 7},
        ErrorCase{"0 0 * 0 *", "month: 0 is out of range 1-12 at column 7", 7},
        ErrorCase{"0 0 * * 1,8", "day-of-week: 8 is out of range 0-7 at column 11", 11},
        ErrorCase{"0 0 * * 99999999999", "day-of-week: 99999999999 is out of range 0-7 at column 9",
                  9},
        ErrorCase{"60 * * * * *", "second: 60 is out of range 0-59 at column 1", 1},
        ErrorCase{"*/0 * * * *", "minute: step 0 is out of range 1-60 at column 3", 3},
        ErrorCase{"*/61 * * * *", "minute: step 61 is out of range 1-60 at column 3", 3},
        ErrorCase{"0 0 * * */8", "day-of-week: step 8 is out of range 1-7 at column 11", 11},
        ErrorCase{"5-2 * * * *",
                  "minute: range 5-2 runs backwards (write it as two ranges) at column 1", 1},
        ErrorCase{"0 0 * * FRI-MON",
                  "day-of-week: range FRI-MON runs backwards (write it as two ranges) at column 9",
                  9},
        ErrorCase{"a * * * *", "minute: unexpected 'a' at column 1", 1},
        ErrorCase{"1.5 * * * *", "minute: unexpected '.' at column 2", 2},
        ErrorCase{"0 0 * FOO *", "month: unknown name 'FOO' (expected JAN-DEC) at column 7", 7},
        ErrorCase{"0 0 * * MONDAY",
                  "day-of-week: unknown name 'MONDAY' (expected SUN-SAT) at column 9", 9},
        ErrorCase{"0 0 * MON *", "month: unknown name 'MON' (expected JAN-DEC) at column 7", 7},
        ErrorCase{"0 0 * * MON#6", "day-of-week: #6 is out of range 1-5 at column 13", 13},
        ErrorCase{"0 0 * * 1#0", "day-of-week: #0 is out of range 1-5 at column 11", 11},
        ErrorCase{"0 0 1,,2 * *", "day-of-month: empty list element at column 7", 7},
        ErrorCase{"0 0 1, * *", "day-of-month: empty list element at column 7", 7},
        ErrorCase{"0 0 ,1 * *", "day-of-month: empty list element at column 5", 5},
        ErrorCase{"0 0 L-31 * *", "day-of-month: L-31 is out of range 0-30 at column 7", 7},
        ErrorCase{"0 0 L * L",
                  "day-of-week: 'L' needs a weekday before it (e.g. 5L or FRIL, the last Friday) "
                  "at column 9",
                  9},
        ErrorCase{"0 L * * *",
                  "hour: 'L' is only allowed in day-of-month and day-of-week at column 3", 3},
        ErrorCase{"0 0 * 1L *",
                  "month: 'L' is only allowed in day-of-month and day-of-week at column 8", 8},
        ErrorCase{"0 0 * * 1W", "day-of-week: 'W' is only allowed in day-of-month at column 10",
                  10},
        ErrorCase{"0 0 5L * *", "day-of-month: 'L' must stand alone (L, L-n or LW) at column 6", 6},
        ErrorCase{"0 0 1#2 * *", "day-of-month: '#' is only allowed in day-of-week at column 6", 6},
        ErrorCase{"0 0 */2-5 * *", "day-of-month: a range cannot start with '*' or '?' at column 8",
                  8},
        ErrorCase{"0 0 1-5 * 1-", "day-of-week: expected a number at column 13", 13},
        ErrorCase{"0 0 1-5 * 1-%", "day-of-week: expected a number, found '%' at column 13", 13},
        ErrorCase{"0 0 1W-3 * *", "day-of-month: unexpected '-' at column 7", 7},
        ErrorCase{"0 0 30 2 *",
                  "day-of-month: day 30 never occurs in FEB, so the expression can never fire at "
                  "column 5",
                  5},
        ErrorCase{"0 0 31 4 *",
                  "day-of-month: day 31 never occurs in APR, so the expression can never fire at "
                  "column 5",
                  5},
        ErrorCase{"0 0 30,31 2 *",
                  "day-of-month: days 30,31 never occur in FEB, so the expression can never fire "
                  "at column 5",
                  5},
        ErrorCase{"0 0 31 2,4,6,9,11 *",
                  "day-of-month: day 31 never occurs in FEB, APR, JUN, SEP, NOV, so the "
                  "expression can never fire at column 5",
                  5},
        ErrorCase{"0 0 0 31 2 *",
                  "day-of-month: day 31 never occurs in FEB, so the expression can never fire at "
                  "column 7",
                  7},
        ErrorCase{"0 0 31W 2 *",
                  "day-of-month: no day of FEB matches both day-of-month and day-of-week, so the "
                  "expression can never fire at column 5",
                  5},
        ErrorCase{"0 0 */10 2 1#5",
                  "day-of-month: no day of FEB matches both day-of-month and day-of-week, so the "
                  "expression can never fire at column 5",
                  5}));

TEST(CronParse, ImpossibleDayOfMonthIsFineWhenDayOfWeekOrs) {
  // Vixie's OR rule: a restricted day-of-week makes Feb 30 harmless.
  EXPECT_TRUE(std::holds_alternative<CronSpec>(parse_cron("0 0 30 2 MON")));
  EXPECT_TRUE(std::holds_alternative<CronSpec>(parse_cron("0 0 29 2 *")));
  EXPECT_TRUE(std::holds_alternative<CronSpec>(parse_cron("0 0 * 2 1#5")));  // leap years
}

}  // namespace
}  // namespace kairos::schedule

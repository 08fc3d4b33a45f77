#include "schedule/catch_up.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <string>
#include <vector>

#include "planning_test_util.h"
#include "schedule/cron_range.h"

namespace kairos::schedule {
namespace {

using namespace testing_util;
using namespace std::chrono_literals;
using config::CatchUpPolicy;

/// "2026-01-01T05:00:00" (UTC), with ".250" when the instant is not a whole second.
std::string when(Millis t) {
  std::string s = utc(t);
  s.resize(s.size() - 6);  // "+00:00"
  const Millis frac = ((t % 1000) + 1000) % 1000;
  if (frac != 0) s += "." + std::to_string(1000 + frac).substr(1);
  return s;
}

/// "missed 4 [first, last] run [a, b] cursor c": the whole plan on one line.
std::string render(const CatchUpPlan& p) {
  std::string s;
  if (p.missed) {
    s += "missed " + std::to_string(p.missed->count) + " [" + when(p.missed->first) + ", " +
         when(p.missed->last) + "] ";
  }
  s += "run [";
  for (std::size_t i = 0; i < p.run.size(); ++i) s += (i ? ", " : "") + when(p.run[i]);
  return s + "] cursor " + when(p.cursor);
}

config::CatchUp policy(CatchUpPolicy kind, config::Duration max_age = {}) {
  return config::CatchUp{kind, max_age};
}

constexpr auto kNone = CatchUpPolicy::none;
constexpr auto kLast = CatchUpPolicy::last;
constexpr auto kAll = CatchUpPolicy::all;

struct PlanCase {
  const char* name;
  std::shared_ptr<const config::Schedule> schedule;
  const char* loaded_at;  // also the anchor of `every`
  CatchUpPolicy kind;
  config::Duration max_age;
  const char* from;
  const char* to;
  const char* expected;
};

void PrintTo(const PlanCase& c, std::ostream* os) {
  *os << c.name;
}

class PlanCatchUp : public ::testing::TestWithParam<PlanCase> {};

TEST_P(PlanCatchUp, Table) {
  const PlanCase& c = GetParam();
  Planner p(c.schedule, ms(c.loaded_at), ms(c.loaded_at));
  EXPECT_EQ(render(plan_catch_up(p, policy(c.kind, c.max_age), ms(c.from), ms(c.to))), c.expected);
}

const char* const kT0 = "2026-01-01T00:00:00Z";
// `every 1h` from kT0, down from 00:30 to 05:30: it missed 01:00 … 05:00.
const char* const kEveryFrom = "2026-01-01T00:30:00Z";
const char* const kEveryTo = "2026-01-01T05:30:00Z";

INSTANTIATE_TEST_SUITE_P(
    Every, PlanCatchUp,
    ::testing::Values(
        PlanCase{"none", every(1h), kT0, kNone, 0s, kEveryFrom, kEveryTo,
                 "missed 5 [2026-01-01T01:00:00, 2026-01-01T05:00:00] run [] "
                 "cursor 2026-01-01T05:00:00"},
        PlanCase{"none_max_age", every(1h), kT0, kNone, 1h, kEveryFrom, kEveryTo,
                 "missed 5 [2026-01-01T01:00:00, 2026-01-01T05:00:00] run [] "
                 "cursor 2026-01-01T05:00:00"},
        PlanCase{"last", every(1h), kT0, kLast, 0s, kEveryFrom, kEveryTo,
                 "missed 4 [2026-01-01T01:00:00, 2026-01-01T04:00:00] "
                 "run [2026-01-01T05:00:00] cursor 2026-01-01T05:00:00"},
        PlanCase{"last_young_enough", every(1h), kT0, kLast, 30min, kEveryFrom, kEveryTo,
                 "missed 4 [2026-01-01T01:00:00, 2026-01-01T04:00:00] "
                 "run [2026-01-01T05:00:00] cursor 2026-01-01T05:00:00"},
        PlanCase{"last_too_old", every(1h), kT0, kLast, 20min, kEveryFrom, kEveryTo,
                 "missed 5 [2026-01-01T01:00:00, 2026-01-01T05:00:00] run [] "
                 "cursor 2026-01-01T05:00:00"},
        PlanCase{"all", every(1h), kT0, kAll, 0s, kEveryFrom, kEveryTo,
                 "run [2026-01-01T01:00:00, 2026-01-01T02:00:00, 2026-01-01T03:00:00, "
                 "2026-01-01T04:00:00, 2026-01-01T05:00:00] cursor 2026-01-01T05:00:00"},
        PlanCase{"all_max_age", every(1h), kT0, kAll, 2h, kEveryFrom, kEveryTo,
                 "missed 3 [2026-01-01T01:00:00, 2026-01-01T03:00:00] "
                 "run [2026-01-01T04:00:00, 2026-01-01T05:00:00] cursor 2026-01-01T05:00:00"},
        PlanCase{"all_max_age_includes_its_bound", every(1h), kT0, kAll, 150min, kEveryFrom,
                 kEveryTo,
                 "missed 2 [2026-01-01T01:00:00, 2026-01-01T02:00:00] "
                 "run [2026-01-01T03:00:00, 2026-01-01T04:00:00, 2026-01-01T05:00:00] "
                 "cursor 2026-01-01T05:00:00"},
        PlanCase{"all_none_young_enough", every(1h), kT0, kAll, 10min, kEveryFrom, kEveryTo,
                 "missed 5 [2026-01-01T01:00:00, 2026-01-01T05:00:00] run [] "
                 "cursor 2026-01-01T05:00:00"},
        PlanCase{"window_ends_on_a_firing", every(1h), kT0, kLast, 0s, "2026-01-01T01:00:00Z",
                 "2026-01-01T03:00:00Z",
                 "missed 1 [2026-01-01T02:00:00, 2026-01-01T02:00:00] "
                 "run [2026-01-01T03:00:00] cursor 2026-01-01T03:00:00"},
        PlanCase{"from_before_anchor", every(1h), kT0, kNone, 0s, "2025-12-31T20:00:00Z",
                 "2026-01-01T02:00:00Z",
                 "missed 2 [2026-01-01T01:00:00, 2026-01-01T02:00:00] run [] "
                 "cursor 2026-01-01T02:00:00"},
        PlanCase{"no_firing", every(1h), kT0, kAll, 0s, "2026-01-01T01:10:00Z",
                 "2026-01-01T01:50:00.250Z", "run [] cursor 2026-01-01T01:50:00.250"},
        PlanCase{"empty_window", every(1h), kT0, kAll, 0s, kEveryTo, kEveryFrom,
                 "run [] cursor 2026-01-01T00:30:00"}),
    [](const auto& info) { return std::string(info.param.name); });

// `0 */6 * * *` from midnight to midnight two days later: 06, 12, 18, 00, 06, 12, 18, 00.
const char* const kCronFrom = "2026-01-01T00:00:00Z";
const char* const kCronTo = "2026-01-03T00:00:00Z";

INSTANTIATE_TEST_SUITE_P(
    Cron, PlanCatchUp,
    ::testing::Values(
        PlanCase{"none", cron("0 */6 * * *"), kT0, kNone, 0s, kCronFrom, kCronTo,
                 "missed 8 [2026-01-01T06:00:00, 2026-01-03T00:00:00] run [] "
                 "cursor 2026-01-03T00:00:00"},
        PlanCase{"last", cron("0 */6 * * *"), kT0, kLast, 0s, kCronFrom, kCronTo,
                 "missed 7 [2026-01-01T06:00:00, 2026-01-02T18:00:00] "
                 "run [2026-01-03T00:00:00] cursor 2026-01-03T00:00:00"},
        PlanCase{"last_too_old", cron("0 */6 * * *"), kT0, kLast, 1h, kCronFrom,
                 "2026-01-03T05:00:00Z",
                 "missed 8 [2026-01-01T06:00:00, 2026-01-03T00:00:00] run [] "
                 "cursor 2026-01-03T00:00:00"},
        PlanCase{"all", cron("0 */6 * * *"), kT0, kAll, 0s, kCronFrom, "2026-01-01T23:00:00Z",
                 "run [2026-01-01T06:00:00, 2026-01-01T12:00:00, 2026-01-01T18:00:00] "
                 "cursor 2026-01-01T18:00:00"},
        PlanCase{"all_max_age", cron("0 */6 * * *"), kT0, kAll, 12h, kCronFrom, kCronTo,
                 "missed 5 [2026-01-01T06:00:00, 2026-01-02T06:00:00] "
                 "run [2026-01-02T12:00:00, 2026-01-02T18:00:00, 2026-01-03T00:00:00] "
                 "cursor 2026-01-03T00:00:00"},
        PlanCase{"no_firing", cron("0 */6 * * *"), kT0, kLast, 0s, "2026-01-01T06:00:00Z",
                 "2026-01-01T11:59:59Z", "run [] cursor 2026-01-01T11:59:59"},
        // 02:30 does not exist on 2026-03-29 in Berlin: that day's firing is at 03:00 CEST.
        PlanCase{"berlin_spring_forward", cron("30 2 * * *", "Europe/Berlin"), kT0, kNone, 0s,
                 "2026-03-27T12:00:00Z", "2026-03-30T12:00:00Z",
                 "missed 3 [2026-03-28T01:30:00, 2026-03-30T00:30:00] run [] "
                 "cursor 2026-03-30T00:30:00"},
        PlanCase{"berlin_spring_forward_last", cron("30 2 * * *", "Europe/Berlin"), kT0, kLast, 0s,
                 "2026-03-27T12:00:00Z", "2026-03-29T12:00:00Z",
                 "missed 1 [2026-03-28T01:30:00, 2026-03-28T01:30:00] "
                 "run [2026-03-29T01:00:00] cursor 2026-03-29T01:00:00"},
        // 02:30 happens twice on 2026-10-25 in Berlin: a fixed-time job fires at the first.
        PlanCase{"berlin_fall_back", cron("30 2 * * *", "Europe/Berlin"), kT0, kAll, 0s,
                 "2026-10-24T12:00:00Z", "2026-10-26T12:00:00Z",
                 "run [2026-10-25T00:30:00, 2026-10-26T01:30:00] cursor 2026-10-26T01:30:00"},
        // A job that is not fixed-time follows the wall clock: the skipped hour has no firing,
        // the repeated hour fires twice.
        PlanCase{"berlin_every_half_hour_spring_forward", cron("*/30 * * * *", "Europe/Berlin"),
                 kT0, kAll, 0s, "2026-03-29T00:00:00Z", "2026-03-29T02:00:00Z",
                 "run [2026-03-29T00:30:00, 2026-03-29T01:00:00, 2026-03-29T01:30:00, "
                 "2026-03-29T02:00:00] cursor 2026-03-29T02:00:00"},
        PlanCase{"berlin_every_half_hour_fall_back", cron("*/30 * * * *", "Europe/Berlin"), kT0,
                 kLast, 90min, "2026-10-24T23:00:00Z", "2026-10-25T02:00:00Z",
                 "missed 5 [2026-10-24T23:30:00, 2026-10-25T01:30:00] "
                 "run [2026-10-25T02:00:00] cursor 2026-10-25T02:00:00"}),
    [](const auto& info) { return std::string(info.param.name); });

// An `at` job whose instant passed while kairosd was down, and `after` jobs.
const char* const kAt = "2026-05-01T10:00:00Z";

INSTANTIATE_TEST_SUITE_P(
    OneShot, PlanCatchUp,
    ::testing::Values(
        PlanCase{"at_none", at(kAt), kT0, kNone, 0s, "1970-01-01T00:00:00Z", "2026-06-01T00:00:00Z",
                 "missed 1 [2026-05-01T10:00:00, 2026-05-01T10:00:00] run [] "
                 "cursor 2026-05-01T10:00:00"},
        PlanCase{"at_last", at(kAt), kT0, kLast, 0s, "1970-01-01T00:00:00Z", "2026-06-01T00:00:00Z",
                 "run [2026-05-01T10:00:00] cursor 2026-05-01T10:00:00"},
        PlanCase{"at_last_too_old", at(kAt), kT0, kLast, 24h, "1970-01-01T00:00:00Z",
                 "2026-06-01T00:00:00Z",
                 "missed 1 [2026-05-01T10:00:00, 2026-05-01T10:00:00] run [] "
                 "cursor 2026-05-01T10:00:00"},
        PlanCase{"at_all", at(kAt), kT0, kAll, 0s, "2026-05-01T09:00:00Z", "2026-05-01T10:00:00Z",
                 "run [2026-05-01T10:00:00] cursor 2026-05-01T10:00:00"},
        PlanCase{"at_already_handled", at(kAt), kT0, kAll, 0s, kAt, "2026-06-01T00:00:00Z",
                 "run [] cursor 2026-06-01T00:00:00"},
        PlanCase{"at_still_ahead", at(kAt), kT0, kLast, 0s, kT0, "2026-04-01T00:00:00Z",
                 "run [] cursor 2026-04-01T00:00:00"},
        PlanCase{"after_none", after(30s), kT0, kNone, 0s, kT0, "2026-01-01T00:01:00Z",
                 "missed 1 [2026-01-01T00:00:30, 2026-01-01T00:00:30] run [] "
                 "cursor 2026-01-01T00:00:30"},
        PlanCase{"after_last", after(30s), kT0, kLast, 1min, kT0, "2026-01-01T00:01:00Z",
                 "run [2026-01-01T00:00:30] cursor 2026-01-01T00:00:30"},
        PlanCase{"after_all_too_old", after(30s), kT0, kAll, 10s, kT0, "2026-01-01T00:01:00Z",
                 "missed 1 [2026-01-01T00:00:30, 2026-01-01T00:00:30] run [] "
                 "cursor 2026-01-01T00:00:30"}),
    [](const auto& info) { return std::string(info.param.name); });

// Regression: a per-second job down for 30 days used to be counted one firing at a time, capped
// at a million, and recorded as three `missed` rows.
TEST(PlanCatchUpOutage, PerSecondJobDownFor30DaysIsOneExactPlan) {
  Planner p(cron("* * * * * *"), 0, 0);
  const Millis from = ms("2026-01-01T00:00:00Z"), to = ms("2026-01-31T00:00:00Z");
  const CatchUpPlan plan = plan_catch_up(p, policy(kLast), from, to);
  ASSERT_TRUE(plan.missed);
  EXPECT_EQ(plan.missed->count, 2'592'000 - 1);
  EXPECT_EQ(plan.missed->first, from + 1000);
  EXPECT_EQ(plan.missed->last, to - 1000);
  EXPECT_EQ(plan.run, std::vector<Millis>{to});
  EXPECT_EQ(plan.cursor, to);
  EXPECT_EQ(plan_catch_up(p, policy(kNone), from, to).missed->count, 2'592'000);
}

TEST(PlanCatchUpOutage, PerSecondJobAcrossBothBerlinTransitionsFiresEverySecond) {
  // Wall-clock seconds skipped in spring and repeated in autumn: every absolute second fires.
  Planner p(cron("* * * * * *", "Europe/Berlin"), 0, 0);
  const Millis from = ms("2026-03-01T00:00:00Z"), to = ms("2026-11-01T00:00:00Z");
  const CatchUpPlan plan = plan_catch_up(p, policy(kNone), from, to);
  ASSERT_TRUE(plan.missed);
  EXPECT_EQ(plan.missed->count, (to - from) / 1000);
  EXPECT_EQ(plan.missed->last, to);
}

TEST(PlanCatchUpOutage, AllKeepsTheNewest100OldestFirst) {
  Planner p(cron("* * * * * *"), 0, 0);
  const Millis from = ms("2026-01-01T00:00:00Z"), to = ms("2026-01-31T00:00:00.500Z");
  const CatchUpPlan plan = plan_catch_up(p, policy(kAll), from, to);
  ASSERT_EQ(plan.run.size(), 100u);
  for (std::size_t i = 0; i < plan.run.size(); ++i)
    EXPECT_EQ(plan.run[i], ms("2026-01-30T23:58:21Z") + static_cast<Millis>(i) * 1000);
  ASSERT_TRUE(plan.missed);
  EXPECT_EQ(plan.missed->count, 2'592'000 - 100);
  EXPECT_EQ(plan.missed->last, plan.run.front() - 1000);
  EXPECT_EQ(plan.cursor, ms("2026-01-31T00:00:00Z"));
}

TEST(PlanCatchUpOutage, EveryKeepsTheNewest100OldestFirst) {
  Planner p(every(10ms), 0, 0);
  const CatchUpPlan plan = plan_catch_up(p, policy(kAll), 0, 86'400'000);
  ASSERT_EQ(plan.run.size(), 100u);
  EXPECT_EQ(plan.run.front(), 86'400'000 - 990);
  EXPECT_EQ(plan.run.back(), 86'400'000);
  EXPECT_EQ(plan.missed, (Missed{10, 86'400'000 - 1000, 8'640'000 - 100}));
}

TEST(CountFires, FiftyYearsOfHourlyFiringsInUtc) {
  auto spec = std::get<CronSpec>(parse_cron("0 * * * *"));
  const auto& tz = *date::locate_zone("UTC");
  const std::chrono::sys_seconds from{date::sys_days{date::year{2000} / 1 / 1}};
  const std::chrono::sys_seconds to{date::sys_days{date::year{2050} / 1 / 1}};
  EXPECT_EQ(count_fires(spec, from, to, tz), (to - from) / 1h);
  EXPECT_EQ(last_fire(spec, from, to, tz), to);
  EXPECT_EQ(last_fire(spec, from, to - 1s, tz), to - 1h);
  EXPECT_EQ(last_fire(spec, to - 1h, to - 1s, tz), std::nullopt);
}

// Exactness: random expressions and windows, often around a daylight-saving change, against the
// plan built from every firing that Planner::next_after finds one by one.

CatchUpPlan brute_force(const Planner& p, const config::CatchUp& policy, Millis from, Millis& to,
                        std::size_t cap) {
  std::vector<Millis> all;
  for (Millis t = from;;) {
    auto next = p.next_after(t);
    if (!next || *next > to) break;
    all.push_back(t = *next);
    if (all.size() == cap) {
      to = t;  // keep the brute force affordable: the window ends at its cap-th firing
      break;
    }
  }
  CatchUpPlan plan;
  plan.cursor = all.empty() ? to : all.back();
  const Millis oldest_ok =
      policy.max_age.count() > 0 ? to - policy.max_age.count() : std::numeric_limits<Millis>::min();
  if (policy.policy == kLast && !all.empty() && all.back() >= oldest_ok) {
    plan.run.push_back(all.back());
  } else if (policy.policy == kAll) {
    for (auto it = all.rbegin(); it != all.rend() && *it >= oldest_ok && plan.run.size() < 100;
         ++it) {
      plan.run.insert(plan.run.begin(), *it);
    }
  }
  const std::size_t missed = all.size() - plan.run.size();
  if (missed > 0) plan.missed = Missed{all.front(), all[missed - 1], static_cast<Millis>(missed)};
  return plan;
}

std::string random_expression(std::mt19937& rng) {
  // Mostly `*` in the day fields, so that most windows hold firings.
  auto pick = [&](int star_percent, std::initializer_list<const char*> options) {
    if (static_cast<int>(rng() % 100) < star_percent) return std::string("*");
    std::vector<const char*> v(options);
    return std::string(v[std::uniform_int_distribution<std::size_t>(0, v.size() - 1)(rng)]);
  };
  std::string expr;
  if (rng() % 3 == 0) expr += pick(30, {"0", "*/15", "0-10", "5,30,45", "*/7", "59"}) + " ";
  expr += pick(15, {"0", "30", "*/30", "15,45", "0-5", "*/7", "59"}) + " ";
  expr += pick(20, {"2", "1-3", "2,3", "*/4", "0", "23", "1,2,14", "3", "0-4/2"}) + " ";
  expr += pick(70, {"1", "L", "15W", "1-10", "*/3", "29", "?", "L-2", "LW"}) + " ";
  expr += pick(80, {"3,10", "*/2", "4", "11", "3-4,10-11"}) + " ";
  expr += pick(70, {"?", "1-5", "0", "5L", "1#2", "6", "0,6"});
  return expr;
}

TEST(PlanCatchUpProperty, MatchesEnumeratingEveryFiring) {
  std::mt19937 rng(20260329);
  const char* const zones[] = {"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
                               "Asia/Kolkata"};
  const std::int64_t year_2026 = ms("2026-01-01T00:00:00Z");
  int checked = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::string expr = random_expression(rng);
    const char* zone = zones[rng() % std::size(zones)];
    if (std::holds_alternative<CronError>(parse_cron(expr))) continue;
    Planner p(cron(expr.c_str(), zone), 0, 0);
    // Windows of minutes, days or up to ten days, most of them around an offset change.
    const std::int64_t spans[] = {3'600'000, 3 * 86'400'000LL, 10 * 86'400'000LL};
    const std::int64_t span =
        std::uniform_int_distribution<std::int64_t>(1, spans[rng() % std::size(spans)])(rng);
    Millis pivot =
        year_2026 + std::uniform_int_distribution<std::int64_t>(0, 2LL * 365 * 86'400'000)(rng);
    if (rng() % 4 != 0) {
      const auto info = date::locate_zone(zone)->get_info(std::chrono::floor<std::chrono::seconds>(
          config::TimePoint{std::chrono::milliseconds{pivot}}));
      if (info.end < std::chrono::sys_seconds{date::sys_days{date::year{2100} / 1 / 1}})
        pivot = info.end.time_since_epoch().count() * 1000;
    }
    const Millis from = pivot - std::uniform_int_distribution<std::int64_t>(0, span)(rng);
    Millis to = from + span;
    const config::CatchUp pol{
        static_cast<CatchUpPolicy>(rng() % 3),
        std::chrono::milliseconds(
            rng() % 2 ? 0 : std::uniform_int_distribution<std::int64_t>(1, span)(rng))};
    const CatchUpPlan expected = brute_force(p, pol, from, to, 20'000);
    EXPECT_EQ(render(plan_catch_up(p, pol, from, to)), render(expected))
        << "'" << expr << "' in " << zone << ", policy " << static_cast<int>(pol.policy)
        << " max_age " << pol.max_age.count() << "ms, (" << when(from) << ", " << when(to) << "]";
    ++checked;
  }
  EXPECT_GT(checked, 900);
}

}  // namespace
}  // namespace kairos::schedule

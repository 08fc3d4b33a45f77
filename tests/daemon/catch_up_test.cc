// Catch-up after an outage (docs/semantics.md, "Catch-up after downtime"): the parts run,
// fire, and shut down; the clock moves on while nothing runs; new parts start on the same
// database and decide about the firings that fell meanwhile.
#include <tuple>

#include "core_fixture.h"

namespace kairos::daemon::test {
namespace {

using store::Trigger;
using enum store::RunStatus;

constexpr Millis kHour = 3'600'000;

class CatchUpTest : public CoreTest {
 protected:
  void SetUp() override {
    CoreTest::SetUp();
    launcher().on_spawn = [](fakes::FakeProcess& p) { p.exit(0); };
  }
};

// --- every kind × every policy --------------------------------------------------------------

using KindAndPolicy = std::tuple<std::string, std::string>;

class CatchUpKindTest : public CatchUpTest, public ::testing::WithParamInterface<KindAndPolicy> {
 protected:
  std::string config() const {
    const auto& [kind, policy] = GetParam();
    // Every kind fires on the hour; the one-shot at 03:00, while the daemon is down.
    std::string schedule = kind == "every" ? "{every: 1h}"
                           : kind == "cron" ? "{cron: \"0 * * * *\"}"
                                            : "{at: \"2027-01-04T03:00:00Z\"}";
    return "jobs:\n  j:\n    command: [j]\n    schedule: " + schedule +
           "\n    catch_up: {policy: " + policy + "}\n";
  }
};

TEST_P(CatchUpKindTest, FiringsThatFellDuringAnOutageFollowThePolicy) {
  const auto& [kind, policy] = GetParam();
  load(config());
  advance(1h);  // 01:00 fires (not the one-shot)
  restart(5h);  // down from 01:00 to 06:00
  load(config());

  auto rows = runs("j");
  if (kind == "at") {
    ASSERT_EQ(rows.size(), 1u);
    if (policy == "none") {
      EXPECT_EQ(rows[0].status, missed);
      EXPECT_EQ(rows[0].missed_count, 1);
      EXPECT_EQ(rows[0].scheduled_at, kStart + 3 * kHour);
      EXPECT_EQ(rows[0].missed_until, kStart + 3 * kHour);
      EXPECT_EQ(launcher().spawned(), 0u);
    } else {
      EXPECT_EQ(rows[0].status, succeeded);
      EXPECT_EQ(rows[0].trigger, Trigger::catch_up);
      EXPECT_EQ(rows[0].scheduled_at, kStart + 3 * kHour);
      EXPECT_EQ(launcher().spawned(), 1u);
    }
    // A one-shot is handled once: neither later nor after another restart.
    const auto spawned = launcher().spawned();
    advance(1h);
    restart(1h);
    load(config());
    EXPECT_EQ(runs("j").size(), 1u);
    EXPECT_EQ(launcher().spawned(), spawned);
    return;
  }

  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows[0].status, succeeded);
  EXPECT_EQ(rows[0].scheduled_at, kStart + kHour);
  rows.erase(rows.begin());
  if (policy == "none") {
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].status, missed);
    EXPECT_EQ(rows[0].missed_count, 5);
    EXPECT_EQ(rows[0].scheduled_at, kStart + 2 * kHour);
    EXPECT_EQ(rows[0].missed_until, kStart + 6 * kHour);
    EXPECT_EQ(rows[0].error, "5 firing(s) missed while kairosd was not running");
    EXPECT_EQ(launcher().spawned(), 1u);
  } else if (policy == "last") {
    ASSERT_EQ(statuses(rows), (std::vector{missed, succeeded}));
    EXPECT_EQ(rows[0].missed_count, 4);
    EXPECT_EQ(rows[0].scheduled_at, kStart + 2 * kHour);
    EXPECT_EQ(rows[0].missed_until, kStart + 5 * kHour);
    EXPECT_EQ(rows[1].trigger, Trigger::catch_up);
    EXPECT_EQ(rows[1].scheduled_at, kStart + 6 * kHour);
    EXPECT_EQ(launcher().spawned(), 2u);
  } else {
    ASSERT_EQ(statuses(rows), std::vector<store::RunStatus>(5, succeeded));
    for (std::size_t i = 0; i < 5; ++i) {
      EXPECT_EQ(rows[i].trigger, Trigger::catch_up);
      EXPECT_EQ(rows[i].scheduled_at, kStart + static_cast<Millis>(i + 2) * kHour);
    }
    EXPECT_EQ(launcher().spawned(), 6u);
  }
  // The job keeps its schedule afterwards.
  const auto before = runs("j").size();
  advance(1h);
  rows = runs("j");
  ASSERT_EQ(rows.size(), before + 1);
  EXPECT_EQ(rows.back().trigger, Trigger::schedule);
  EXPECT_EQ(rows.back().scheduled_at, kStart + 7 * kHour);
}

INSTANTIATE_TEST_SUITE_P(, CatchUpKindTest,
                         ::testing::Combine(::testing::Values("every", "cron", "at"),
                                            ::testing::Values("none", "last", "all")),
                         [](const auto& info) {
                           return std::get<0>(info.param) + "_" + std::get<1>(info.param);
                         });

// --- the rest ---------------------------------------------------------------------------------

TEST_F(CatchUpTest, APerSecondCronDownFor30DaysIsOneMissedRow) {
  const std::string cfg = R"(
jobs:
  none: {command: [n], schedule: {cron: "* * * * * *"}}
  last: {command: [l], schedule: {cron: "* * * * * *"}, catch_up: {policy: last}}
)";
  load(cfg);
  advance(1s);  // both fire at 00:00:01
  restart(std::chrono::days(30));
  load(cfg);
  const Millis back = kStart + 1'000 + 30LL * 24 * kHour;
  ASSERT_EQ(now(), back);

  auto rows = runs("none");
  ASSERT_EQ(statuses(rows), (std::vector{succeeded, missed}));
  EXPECT_EQ(rows[1].missed_count, 2'592'000);
  EXPECT_EQ(rows[1].scheduled_at, kStart + 2'000);
  EXPECT_EQ(rows[1].missed_until, back);

  rows = runs("last");
  ASSERT_EQ(statuses(rows), (std::vector{succeeded, missed, succeeded}));
  EXPECT_EQ(rows[1].missed_count, 2'591'999);
  EXPECT_EQ(rows[1].scheduled_at, kStart + 2'000);
  EXPECT_EQ(rows[1].missed_until, back - 1'000);
  EXPECT_EQ(rows[2].trigger, Trigger::catch_up);
  EXPECT_EQ(rows[2].scheduled_at, back);

  // Then every second again, on time.
  advance(2s);
  EXPECT_EQ(scheduled(runs("none", succeeded)), (std::vector{kStart + 1'000, back + 1'000,
                                                             back + 2'000}));
}

TEST_F(CatchUpTest, AllWithMaxAgeRunsOnlyTheYoungFiringsAndRecordsTheRestMissed) {
  const std::string cfg = R"(
jobs:
  j:
    command: [j]
    schedule: {every: 1h}
    catch_up: {policy: all, max_age: 150m}
)";
  load(cfg);
  advance(1h);
  restart(5h);  // 02:00 … 06:00 fell; 04:00, 05:00 and 06:00 are younger than 150m
  load(cfg);
  auto rows = runs("j");
  ASSERT_EQ(statuses(rows), (std::vector{succeeded, missed, succeeded, succeeded, succeeded}));
  EXPECT_EQ(rows[1].missed_count, 2);
  EXPECT_EQ(rows[1].scheduled_at, kStart + 2 * kHour);
  EXPECT_EQ(rows[1].missed_until, kStart + 3 * kHour);
  EXPECT_EQ(scheduled({rows.begin() + 2, rows.end()}),
            (std::vector{kStart + 4 * kHour, kStart + 5 * kHour, kStart + 6 * kHour}));
}

TEST_F(CatchUpTest, AnOutageAcrossSpringForwardInBerlinCountsTheDayOfTheGapOnce) {
  // 2027-03-28 02:00 CET becomes 03:00 CEST: 02:30 does not exist that day, and a fixed-time
  // schedule fires once at the end of the gap (docs/cron.md, "Daylight saving").
  const std::string cfg = R"(
defaults: {timezone: Europe/Berlin}
jobs:
  all: {command: [a], schedule: {cron: "30 2 * * *"}, catch_up: {policy: all}}
  none: {command: [n], schedule: {cron: "30 2 * * *"}}
)";
  advance_to(at("2027-03-26T00:00:00Z"));
  load(cfg);
  advance_to(at("2027-03-26T12:00:00Z"));  // fired at 02:30 CET (01:30Z)
  restart(std::chrono::milliseconds(at("2027-03-30T00:00:00Z") - now()));
  load(cfg);

  const std::vector fell = {at("2027-03-27T01:30:00Z"), at("2027-03-28T01:00:00Z"),
                            at("2027-03-29T00:30:00Z")};
  auto rows = runs("all");
  ASSERT_EQ(statuses(rows), std::vector<store::RunStatus>(4, succeeded));
  EXPECT_EQ(rows[0].scheduled_at, at("2027-03-26T01:30:00Z"));
  EXPECT_EQ(scheduled({rows.begin() + 1, rows.end()}), fell);
  rows = runs("none");
  ASSERT_EQ(statuses(rows), (std::vector{succeeded, missed}));
  EXPECT_EQ(rows[1].missed_count, 3);
  EXPECT_EQ(rows[1].scheduled_at, fell.front());
  EXPECT_EQ(rows[1].missed_until, fell.back());

  advance_to(at("2027-03-30T01:00:00Z"));  // 02:30 CEST is 00:30Z
  EXPECT_EQ(runs("none").back().scheduled_at, at("2027-03-30T00:30:00Z"));
  EXPECT_EQ(runs("none").back().trigger, Trigger::schedule);
}

TEST_F(CatchUpTest, AnOutageAcrossFallBackInBerlinCountsTheRepeatedHourOnce) {
  // 2027-10-31 03:00 CEST becomes 02:00 CET: 02:30 happens twice, and fires the first time.
  const std::string cfg = R"(
jobs:
  j:
    command: [j]
    schedule: {cron: "30 2 * * *", timezone: Europe/Berlin}
    catch_up: {policy: all}
)";
  advance_to(at("2027-10-30T00:00:00Z"));
  load(cfg);
  advance_to(at("2027-10-30T12:00:00Z"));
  restart(std::chrono::milliseconds(at("2027-11-01T12:00:00Z") - now()));
  load(cfg);
  auto rows = runs("j");
  EXPECT_EQ(scheduled(rows), (std::vector{at("2027-10-30T00:30:00Z"), at("2027-10-31T00:30:00Z"),
                                          at("2027-11-01T01:30:00Z")}));
  EXPECT_EQ(statuses(rows), std::vector<store::RunStatus>(3, succeeded));
}

TEST_F(CatchUpTest, AnAfterJobFiresAgainAfterEachStartAndNeverCatchesUp) {
  const std::string cfg = R"(
jobs:
  j: {command: [j], schedule: {after: 10s}, catch_up: {policy: all}}
)";
  load(cfg);
  advance(10s);
  restart(1h);
  load(cfg);
  EXPECT_EQ(runs("j").size(), 1u);
  advance(10s);
  auto rows = runs("j");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].trigger, Trigger::schedule);
  EXPECT_EQ(rows[1].scheduled_at, kStart + 10'000 + kHour + 10'000);
}

TEST_F(CatchUpTest, ANewAtJobWhoseInstantHasPassedRecordsItMissed) {
  advance(2h);
  load(R"(
jobs:
  j: {command: [j], schedule: {at: "2027-01-04T01:00:00Z"}}
)");
  auto rows = runs("j");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].status, missed);
  EXPECT_EQ(rows[0].scheduled_at, kStart + kHour);
  EXPECT_EQ(launcher().spawned(), 0u);
}

TEST_F(CatchUpTest, AfterACrashActiveRunsAreInterruptedAndAFiringWrittenAheadIsNotMissed) {
  launcher().on_spawn = nullptr;  // the first run is still running at the crash
  const std::string cfg = R"(
jobs:
  j: {command: [j], schedule: {every: 1h}}
)";
  load(cfg);
  advance(1h);
  advance(1h - 50ms);  // 02:00's row is written ahead (queued), 01:00's run still running
  ASSERT_EQ(statuses(runs("j")), (std::vector{running, queued}));
  crash_and_restart(30min);  // back at 02:29:59.95
  load(cfg);
  auto rows = runs("j");
  ASSERT_EQ(statuses(rows), (std::vector{interrupted, interrupted}));
  EXPECT_EQ(rows[0].error, store::Store::kInterruptedError);
  EXPECT_EQ(scheduled(rows), (std::vector{kStart + kHour, kStart + 2 * kHour}));
  // 02:00 is accounted for by its interrupted row: nothing is missed, 03:00 fires on time.
  advance(30min + 50ms);
  rows = runs("j");
  ASSERT_EQ(statuses(rows), (std::vector{interrupted, interrupted, running}));
  EXPECT_EQ(rows[2].scheduled_at, kStart + 3 * kHour);
}

}  // namespace
}  // namespace kairos::daemon::test

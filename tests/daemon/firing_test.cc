// The firing loop: pause and resume, and wall clock steps (docs/semantics.md, "Firings",
// "Pause").
#include "core_fixture.h"

namespace kairos::daemon::test {
namespace {

using store::Trigger;
using enum store::RunStatus;

constexpr Millis kMinute = 60'000;

class FiringTest : public CoreTest {
 protected:
  void SetUp() override {
    CoreTest::SetUp();
    launcher().on_spawn = [](fakes::FakeProcess& p) { p.exit(0); };
  }
  void set_wall(Millis t) { clock().set_wall(async::Clock::TimePoint(std::chrono::milliseconds(t))); }
};

TEST_F(FiringTest, APausedJobRecordsNothingAndResumeDoesNotReplayWhatWasPaused) {
  load(R"(
jobs:
  a: {command: [a], schedule: {every: 10s}}
)");
  advance(15s);
  ASSERT_EQ(scheduler().set_paused("a", true), true);
  EXPECT_EQ(scheduler().set_paused("a", true), false);
  advance(30s);  // 20s, 30s, 40s
  EXPECT_EQ(runs("a").size(), 1u);
  ASSERT_EQ(scheduler().set_paused("a", false), true);
  advance(5s);
  auto rows = runs("a");
  EXPECT_EQ(scheduled(rows), (std::vector{kStart + 10'000, kStart + 50'000}));
  EXPECT_EQ(launcher().spawned(), 2u);
  EXPECT_EQ(scheduler().set_paused("nope", true), std::nullopt);
}

TEST_F(FiringTest, PausingInTheWriteAheadWindowDeletesTheFiringsRow) {
  load(R"(
jobs:
  a: {command: [a], schedule: {every: 10s}}
)");
  advance(10s - 50ms);
  auto rows = runs("a");
  ASSERT_EQ(statuses(rows), std::vector{queued});  // written ahead of 10s
  scheduler().set_paused("a", true);
  advance(50ms);
  EXPECT_TRUE(runs("a").empty());
  EXPECT_FALSE(store().run(rows[0].id)) << "the row of a firing that did not happen stayed";
  EXPECT_EQ(launcher().spawned(), 0u);
}

TEST_F(FiringTest, APauseSurvivesARestart) {
  const std::string cfg = R"(
jobs:
  a: {command: [a], schedule: {every: 10s}}
)";
  load(cfg);
  scheduler().set_paused("a", true);
  restart(1min);
  load(cfg);
  ASSERT_TRUE(scheduler().find("a"));
  EXPECT_TRUE(scheduler().find("a")->paused);
  advance(1min);
  EXPECT_EQ(launcher().spawned(), 0u);
}

// --- wall clock steps ---------------------------------------------------------------------

TEST_F(FiringTest, AStepBackDoesNotRepeatCronFirings) {
  load(R"(
jobs:
  c: {command: [c], schedule: {cron: "* * * * *"}}
)");
  advance(150s);  // 1m and 2m fire
  set_wall(kStart + 30'000);
  advance(149s);  // back to 2:59: nothing fires again
  EXPECT_EQ(scheduled(runs("c")), (std::vector{kStart + kMinute, kStart + 2 * kMinute}));
  advance(1s);
  EXPECT_EQ(scheduled(runs("c")),
            (std::vector{kStart + kMinute, kStart + 2 * kMinute, kStart + 3 * kMinute}));
  EXPECT_EQ(launcher().spawned(), 3u);
}

TEST_F(FiringTest, AStepForwardRecordsTheJumpedOverCronFiringsOnceThenFiresOnTime) {
  load(R"(
jobs:
  c: {command: [c], schedule: {cron: "* * * * *"}}
)");
  advance(90s);
  set_wall(kStart + 10 * kMinute + 30'000);
  advance(30s);
  auto rows = runs("c");
  ASSERT_EQ(statuses(rows), (std::vector{succeeded, missed, succeeded}));
  EXPECT_EQ(rows[1].missed_count, 9);
  EXPECT_EQ(rows[1].scheduled_at, kStart + 2 * kMinute);
  EXPECT_EQ(rows[1].missed_until, kStart + 10 * kMinute);
  EXPECT_EQ(rows[2].scheduled_at, kStart + 11 * kMinute);
  EXPECT_EQ(rows[2].trigger, Trigger::schedule);
}

TEST_F(FiringTest, AStepForwardOfLessThanASecondPastAFiringFiresItLate) {
  load(R"(
jobs:
  a: {command: [a], schedule: {every: 10s}}
)");
  advance(9s);
  set_wall(kStart + 10'500);
  auto rows = runs("a");
  ASSERT_EQ(statuses(rows), std::vector{succeeded});
  EXPECT_EQ(rows[0].scheduled_at, kStart + 10'000);
  EXPECT_EQ(rows[0].started_at, kStart + 10'500);
}

TEST_F(FiringTest, AStepBackContinuesAnEveryJobOnItsPhaseFromTheNewNow) {
  load(R"(
jobs:
  a: {command: [a], schedule: {every: 10s}}
)");
  advance(25s);  // 10s and 20s fire
  set_wall(kStart + 5'000);
  EXPECT_EQ(launcher().spawned(), 2u);
  advance(5s - 1ms);
  EXPECT_EQ(launcher().spawned(), 2u);
  advance(1ms);  // the phase: 10s again, ten seconds after the last firing
  EXPECT_EQ(launcher().spawned(), 3u);
  advance(10s);
  EXPECT_EQ(scheduled(runs("a")), (std::vector{kStart + 10'000, kStart + 20'000,
                                               kStart + 10'000, kStart + 20'000}));
  EXPECT_EQ(launcher().spawned(), 4u);
}

TEST_F(FiringTest, AStepForwardRecordsTheJumpedOverEveryFiringsOnceThenKeepsThePhase) {
  load(R"(
jobs:
  a: {command: [a], schedule: {every: 10s}}
)");
  advance(15s);
  set_wall(kStart + 65'000);
  advance(5s);
  auto rows = runs("a");
  ASSERT_EQ(statuses(rows), (std::vector{succeeded, missed, succeeded}));
  EXPECT_EQ(rows[1].missed_count, 5);
  EXPECT_EQ(rows[1].scheduled_at, kStart + 20'000);
  EXPECT_EQ(rows[1].missed_until, kStart + 60'000);
  EXPECT_EQ(rows[2].scheduled_at, kStart + 70'000);
}

TEST_F(FiringTest, AStepBackInTheWriteAheadWindowDeletesTheRowAndTheFiringHappensOnce) {
  load(R"(
jobs:
  c: {command: [c], schedule: {cron: "* * * * *"}}
)");
  advance(60s - 50ms);
  auto ahead = runs("c");
  ASSERT_EQ(statuses(ahead), std::vector{queued});
  set_wall(kStart + 30'000);
  EXPECT_TRUE(runs("c").empty());
  EXPECT_FALSE(store().run(ahead[0].id));
  advance(30s);
  auto rows = runs("c");
  ASSERT_EQ(statuses(rows), std::vector{succeeded});
  EXPECT_EQ(rows[0].scheduled_at, kStart + kMinute);
  EXPECT_EQ(launcher().spawned(), 1u);
}

TEST_F(FiringTest, AStepForwardInTheWriteAheadWindowCountsThatFiringAmongTheMissed) {
  load(R"(
jobs:
  c: {command: [c], schedule: {cron: "* * * * *"}}
)");
  advance(60s - 50ms);
  set_wall(kStart + 5 * kMinute + 30'000);
  auto rows = runs("c");
  ASSERT_EQ(statuses(rows), std::vector{missed});
  EXPECT_EQ(rows[0].missed_count, 5);
  EXPECT_EQ(rows[0].scheduled_at, kStart + kMinute);
  EXPECT_EQ(launcher().spawned(), 0u);
}

}  // namespace
}  // namespace kairos::daemon::test

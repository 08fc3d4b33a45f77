// Overlap policies (docs/semantics.md, "Overlap"): what a firing does while the job still has
// an active run.
#include <signal.h>

#include "core_fixture.h"

namespace kairos::daemon::test {
namespace {

using store::RunStatus;
using store::Trigger;
using enum store::RunStatus;

class OverlapTest : public CoreTest {};

TEST_F(OverlapTest, AllowStartsRunsUpToMaxInstancesThenSkips) {
  load(R"(
jobs:
  a:
    command: [work]
    schedule: {every: 10s}
    concurrency: allow
    max_instances: 2
)");
  advance(20s);
  EXPECT_EQ(launcher().spawned(), 2u);
  advance(10s);
  EXPECT_EQ(launcher().spawned(), 2u);
  auto rows = runs("a");
  ASSERT_EQ(statuses(rows), (std::vector{running, running, skipped}));
  EXPECT_EQ(rows[2].scheduled_at, kStart + 30'000);
  EXPECT_EQ(rows[2].error, "max_instances (2) runs already active, newest is run " +
                               std::to_string(rows[1].id));

  // One ends: the next firing has room again.
  launcher().exit(0, 0);
  advance(10s);
  EXPECT_EQ(launcher().spawned(), 3u);
  EXPECT_EQ(statuses(runs("a")), (std::vector{succeeded, running, skipped, running}));
}

TEST_F(OverlapTest, ForbidRecordsEachRefusedFiringAsSkippedNamingTheBlockingRun) {
  load(R"(
jobs:
  a:
    command: [work]
    schedule: {every: 10s}
)");
  advance(30s);
  EXPECT_EQ(launcher().spawned(), 1u);
  auto rows = runs("a");
  ASSERT_EQ(statuses(rows), (std::vector{running, skipped, skipped}));
  EXPECT_EQ(scheduled(rows), (std::vector{kStart + 10'000, kStart + 20'000, kStart + 30'000}));
  for (int i : {1, 2}) {
    EXPECT_EQ(rows[i].error, "run " + std::to_string(rows[0].id) +
                                 " is still active and the overlap policy is forbid");
    EXPECT_EQ(rows[i].trigger, Trigger::schedule);
    EXPECT_EQ(rows[i].finished_at, rows[i].scheduled_at);
    EXPECT_EQ(rows[i].attempts, 0);
  }

  launcher().exit(0, 0);
  advance(10s);
  EXPECT_EQ(launcher().spawned(), 2u);
  EXPECT_EQ(runs("a").back().status, running);
}

TEST_F(OverlapTest, AManualRunFollowsThePolicyButARefusalWritesNoRowAndForceStartsIt) {
  load(R"(
jobs:
  a:
    command: [work]
    schedule: {every: 1h}
)");
  auto first = scheduler().run_now("a", false);
  ASSERT_TRUE(std::holds_alternative<RunPtr>(first));
  settle();
  auto id = std::get<RunPtr>(first)->id;
  auto refused = scheduler().run_now("a", false);
  ASSERT_TRUE(std::holds_alternative<Refusal>(refused));
  EXPECT_EQ(std::get<Refusal>(refused).blocking_run, id);
  EXPECT_EQ(std::get<Refusal>(refused).message,
            "run " + std::to_string(id) + " is still active and the overlap policy is forbid");
  settle();
  EXPECT_EQ(runs("a").size(), 1u);

  auto forced = scheduler().run_now("a", true);
  ASSERT_TRUE(std::holds_alternative<RunPtr>(forced));
  settle();
  EXPECT_EQ(launcher().spawned(), 2u);
  auto rows = runs("a");
  ASSERT_EQ(statuses(rows), (std::vector{running, running}));
  EXPECT_EQ(rows[1].trigger, Trigger::manual);
}

TEST_F(OverlapTest, ReplaceCancelsTheActiveRunAndStartsTheNewOneAtOnce) {
  load(R"(
jobs:
  a:
    command: [work]
    schedule: {every: 10s}
    concurrency: replace
    kill_grace: 5s
)");
  advance(10s);
  ASSERT_EQ(launcher().spawned(), 1u);
  launcher().process(0).ignore_sigterm();  // so both are alive for kill_grace

  advance(10s);
  ASSERT_EQ(launcher().spawned(), 2u);
  EXPECT_EQ(launcher().process(0).signals(), std::vector{SIGTERM});
  EXPECT_TRUE(launcher().process(0).alive());
  auto rows = runs("a");
  ASSERT_EQ(statuses(rows), (std::vector{running, running}));

  advance(5s);  // kill_grace
  EXPECT_EQ(launcher().process(0).signals(), (std::vector{SIGTERM, SIGKILL}));
  rows = runs("a");
  ASSERT_EQ(statuses(rows), (std::vector{cancelled, running}));
  EXPECT_EQ(rows[0].error, "replaced by a newer run (overlap policy replace)");
  EXPECT_EQ(rows[0].signal, SIGKILL);
  EXPECT_EQ(rows[0].finished_at, kStart + 25'000);
  EXPECT_EQ(launcher().process(1).env("KAIROS_RUN_ID"), std::to_string(rows[1].id));

  // A child that obeys SIGTERM ends at once.
  advance(5s);
  EXPECT_EQ(launcher().spawned(), 3u);
  EXPECT_EQ(launcher().process(1).signals(), std::vector{SIGTERM});
  EXPECT_EQ(statuses(runs("a")), (std::vector{cancelled, cancelled, running}));
  EXPECT_TRUE(launcher().process(1).late_signals().empty());
}

TEST_F(OverlapTest, QueueWaitsForTheActiveRunAndLaterFiringsCoalesceIntoTheWaitingOne) {
  load(R"(
jobs:
  a:
    command: [work]
    schedule: {every: 10s}
    concurrency: queue
)");
  advance(20s);
  EXPECT_EQ(launcher().spawned(), 1u);
  auto rows = runs("a");
  ASSERT_EQ(statuses(rows), (std::vector{running, queued}));
  const auto waiting = rows[1].id;

  advance(20s);  // 30s and 40s coalesce
  EXPECT_EQ(launcher().spawned(), 1u);
  rows = runs("a");
  ASSERT_EQ(statuses(rows), (std::vector{running, queued, skipped, skipped}));
  EXPECT_EQ(rows[2].error, "coalesced into queued run " + std::to_string(waiting));
  EXPECT_EQ(rows[3].error, "coalesced into queued run " + std::to_string(waiting));

  advance(5s);
  launcher().exit(0, 0);
  settle();
  ASSERT_EQ(launcher().spawned(), 2u);
  auto row = run_row(waiting);
  ASSERT_TRUE(row);
  EXPECT_EQ(row->status, running);
  EXPECT_EQ(row->scheduled_at, kStart + 20'000);
  EXPECT_EQ(row->started_at, kStart + 45'000);

  // The started one is no longer waiting: the next firing queues behind it.
  advance(5s);
  rows = runs("a");
  ASSERT_EQ(statuses(rows), (std::vector{succeeded, running, skipped, skipped, queued}));
  EXPECT_EQ(launcher().spawned(), 2u);
  launcher().exit(1, 0);
  settle();
  EXPECT_EQ(launcher().spawned(), 3u);
  EXPECT_EQ(runs("a").back().status, running);
}

}  // namespace
}  // namespace kairos::daemon::test

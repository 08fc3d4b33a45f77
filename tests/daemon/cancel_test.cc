// Cancellation in every phase of a run (docs/semantics.md): waiting behind the overlap
// queue, waiting for a slot, running, in backoff, and a firing whose row is written ahead
// of its instant.
#include <signal.h>

#include "core_fixture.h"

namespace kairos::daemon::test {
namespace {

using store::Trigger;
using enum store::RunStatus;

class CancelTest : public CoreTest {};

TEST_F(CancelTest, ARunQueuedBehindTheOverlapQueueEndsCancelledWithoutStarting) {
  load(R"(
jobs:
  a: {command: [a], schedule: {every: 10s}, concurrency: queue}
)");
  advance(20s);
  auto rows = runs("a");
  ASSERT_EQ(statuses(rows), (std::vector{running, queued}));
  EXPECT_EQ(ledger().cancel(rows[1].id, "no longer wanted"), RunLedger::Cancel::requested);
  settle();
  rows = runs("a");
  ASSERT_EQ(statuses(rows), (std::vector{running, cancelled}));
  EXPECT_EQ(rows[1].error, "no longer wanted");
  EXPECT_EQ(rows[1].attempts, 0);
  EXPECT_EQ(launcher().spawned(), 1u);
  EXPECT_TRUE(launcher().process(0).signals().empty());

  advance(10s);  // the next firing queues behind the running one again
  EXPECT_EQ(runs("a").back().status, queued);
  launcher().exit(0, 0);
  settle();
  EXPECT_EQ(launcher().spawned(), 2u);
}

TEST_F(CancelTest, ARunWaitingForAPoolSlotEndsCancelledAndTheSlotGoesToTheNextInLine) {
  load(R"(
pools: {p: 1}
jobs:
  a: {command: [a], schedule: {after: 1s}, pool: p}
  b: {command: [b], schedule: {after: 1s}, pool: p}
  c: {command: [c], schedule: {after: 2s}, pool: p}
)");
  advance(2s);
  auto b = runs("b").at(0);
  ASSERT_EQ(b.status, queued);
  EXPECT_EQ(ledger().cancel(b.id, "stop"), RunLedger::Cancel::requested);
  settle();
  b = *run_row(b.id);
  EXPECT_EQ(b.status, cancelled);
  EXPECT_EQ(b.attempts, 0);
  EXPECT_FALSE(b.started_at);
  launcher().exit(0, 0);  // a ends: c, not the cancelled b, gets the slot
  settle();
  ASSERT_EQ(launcher().spawned(), 2u);
  EXPECT_EQ(launcher().process(1).env("KAIROS_JOB"), "c");
}

TEST_F(CancelTest, ARunningRunGetsSigtermThenSigkillAfterKillGrace) {
  load(R"(
jobs:
  a: {command: [a], schedule: {after: 1s}, kill_grace: 5s}
)");
  launcher().ignore_sigterm_by_default = true;
  advance(1s);
  auto id = runs("a").at(0).id;
  EXPECT_EQ(ledger().cancel(id, "by hand"), RunLedger::Cancel::requested);
  settle();
  EXPECT_EQ(launcher().process(0).signals(), std::vector{SIGTERM});
  EXPECT_EQ(run_row(id)->status, running);
  advance(5s);
  EXPECT_EQ(launcher().process(0).signals(), (std::vector{SIGTERM, SIGKILL}));
  auto row = run_row(id);
  EXPECT_EQ(row->status, cancelled);
  EXPECT_EQ(row->error, "by hand");
  EXPECT_EQ(row->signal, SIGKILL);
  EXPECT_EQ(row->finished_at, kStart + 6'000);
  EXPECT_EQ(ledger().cancel(id, "again"), RunLedger::Cancel::ended);
  EXPECT_EQ(ledger().cancel(9999, "who"), RunLedger::Cancel::unknown);
}

TEST_F(CancelTest, ARunInBackoffEndsCancelledAtOnceAndNeverRetries) {
  load(R"(
jobs:
  a:
    command: [a]
    schedule: {after: 1s}
    retry: {attempts: 5, backoff: 1m}
)");
  advance(1s);
  launcher().exit(0, 1);
  advance(10s);
  auto id = runs("a").at(0).id;
  ASSERT_EQ(ledger().find(id)->phase, RunPhase::backoff);
  ledger().cancel(id, "enough");
  settle();
  auto row = run_row(id);
  EXPECT_EQ(row->status, cancelled);
  EXPECT_EQ(row->error, "enough");
  EXPECT_EQ(row->attempts, 1);
  EXPECT_EQ(row->finished_at, kStart + 11'000);
  EXPECT_EQ(clock().mono_deadlines(), 0u);
  advance(1h);
  EXPECT_EQ(launcher().spawned(), 1u);
}

TEST_F(CancelTest, AFiringWrittenAheadAndCancelledBeforeItsInstantNeverSpawns) {
  load(R"(
jobs:
  a: {command: [a], schedule: {every: 10s}}
)");
  advance(10s - 50ms);  // the row for 10s is written and committed
  auto ahead = runs("a");
  ASSERT_EQ(statuses(ahead), std::vector{queued});
  EXPECT_EQ(ahead[0].scheduled_at, kStart + 10'000);
  EXPECT_EQ(ledger().cancel(ahead[0].id, "not this one"), RunLedger::Cancel::requested);
  advance(50ms);
  EXPECT_EQ(launcher().spawned(), 0u);
  auto rows = runs("a");
  ASSERT_EQ(statuses(rows), std::vector{cancelled});
  EXPECT_EQ(rows[0].id, ahead[0].id);
  EXPECT_EQ(rows[0].error, "not this one");
  EXPECT_EQ(rows[0].finished_at, kStart + 10'000);

  advance(10s);  // the next firing is not affected
  EXPECT_EQ(launcher().spawned(), 1u);
  EXPECT_EQ(statuses(runs("a")), (std::vector{cancelled, running}));
}

TEST_F(CancelTest, CancellingAJobCancelsItsActiveRunsAndItsFiringWrittenAhead) {
  load(R"(
jobs:
  a: {command: [a], schedule: {every: 10s}, concurrency: allow, max_instances: 3}
)");
  launcher().ignore_sigterm_by_default = true;
  advance(20s - 50ms);
  auto rows = runs("a");
  ASSERT_EQ(statuses(rows), (std::vector{running, queued}));
  auto ids = ledger().cancel_job(*scheduler().find("a"), "all of them");
  EXPECT_EQ(ids, (std::vector{rows[0].id, rows[1].id}));
  advance(50ms);
  EXPECT_EQ(launcher().spawned(), 1u);
  rows = runs("a");
  ASSERT_EQ(statuses(rows), (std::vector{running, cancelled}));
}

TEST_F(CancelTest, AFiringWrittenAheadThatTheOverlapPolicyWouldSkipStillEndsCancelled) {
  load(R"(
jobs:
  a: {command: [a], schedule: {every: 10s}}
)");
  advance(20s - 50ms);
  auto rows = runs("a");
  ASSERT_EQ(statuses(rows), (std::vector{running, queued}));
  ledger().cancel(rows[1].id, "cancelled ahead");
  advance(50ms);
  rows = runs("a");
  ASSERT_EQ(statuses(rows), (std::vector{running, cancelled}));
  EXPECT_EQ(rows[1].error, "cancelled ahead");
}

TEST_F(CancelTest, AManualRunCancelledBeforeItsRowIsCommittedStartsNoProcess) {
  load(R"(
jobs:
  a: {command: [a], schedule: {every: 1h}}
)");
  auto started = scheduler().run_now("a", false);
  ASSERT_TRUE(std::holds_alternative<RunPtr>(started));
  auto run = std::get<RunPtr>(started);
  // The runner waits for the row's commit before it spawns; the cancel comes first.
  ledger().cancel(run->id, "changed my mind");
  settle();
  EXPECT_EQ(launcher().spawned(), 0u);
  auto row = run_row(run->id);
  ASSERT_TRUE(row);
  EXPECT_EQ(row->status, cancelled);
  EXPECT_EQ(row->error, "changed my mind");
  auto as = attempts(run->id);
  ASSERT_EQ(as.size(), 1u);
  EXPECT_EQ(as[0].status, cancelled);
  EXPECT_EQ(as[0].error, "changed my mind");
}

}  // namespace
}  // namespace kairos::daemon::test

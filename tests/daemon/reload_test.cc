// Reloads (Scheduler::apply): all or nothing, and what a dropped job or pool leaves behind.
#include <signal.h>

#include <algorithm>

#include "core_fixture.h"

namespace kairos::daemon::test {
namespace {

using store::Trigger;
using enum store::RunStatus;

class ReloadTest : public CoreTest {};

// apply() used to stop a changed job's firing loop as it built the new job, before the jobs
// after it were built: when a later one threw, the changed job was left with no loop and
// never fired again, although the old configuration stayed in force.
TEST_F(ReloadTest, ReloadThatFailsHalfwayKeepsEveryJobFiring) {
  launcher().on_spawn = [](fakes::FakeProcess& p) { p.exit(0); };
  auto cfg = parse(R"(
jobs:
  a: {command: [a], schedule: {every: 10s}}
)");
  scheduler().apply(cfg);
  advance(10s);
  ASSERT_EQ(runs("a").size(), 1u);

  // Built by hand: the loader would refuse an unknown user (and `user:` without root).
  auto next = cfg;
  next.jobs[0].schedule.every = 7s;  // a changes
  auto b = next.jobs[0];
  b.name = "b";
  b.user = "kairos-no-such-user";  // resolve_identity throws
  next.jobs.push_back(b);
  EXPECT_THROW(scheduler().apply(next), std::runtime_error);

  ASSERT_TRUE(scheduler().find("a"));
  EXPECT_EQ(scheduler().find("a")->spec->schedule.every, 10s);
  EXPECT_FALSE(scheduler().find("b"));
  advance(30s);
  EXPECT_EQ(scheduled(runs("a")),
            (std::vector{kStart + 10'000, kStart + 20'000, kStart + 30'000, kStart + 40'000}));
  EXPECT_TRUE(runs("b").empty());
}

// A pool's slots are a semaphore the runner keeps by name; a reload that drops the pool drops
// the runner's reference while a run still holds one of its slots. Giving the slot back then
// must not touch freed memory (it did when a permit held a raw pointer).
class PoolRemovedTest : public ReloadTest, public ::testing::WithParamInterface<bool> {};

TEST_P(PoolRemovedTest, APoolRemovedByAReloadWhileItsRunHoldsASlotIsReleasedSafely) {
  const bool keep_job = GetParam();
  load(R"(
pools: {p: 1}
jobs:
  a: {command: [a], schedule: {after: 1s}, pool: p, retry: {attempts: 2, backoff: 5s}}
  other: {command: [o], schedule: {every: 1h}}
)");
  advance(1s);
  ASSERT_EQ(launcher().spawned(), 1u);
  auto id = runs("a").at(0).id;

  auto d = load(keep_job ? R"(
jobs:
  a: {command: [a], schedule: {after: 1s}, retry: {attempts: 2, backoff: 5s}}
  other: {command: [o], schedule: {every: 1h}}
)"
                         : R"(
jobs:
  other: {command: [o], schedule: {every: 1h}}
)");
  const auto& a_is = keep_job ? d.changed : d.removed;
  EXPECT_EQ(std::count(a_is.begin(), a_is.end(), "a"), 1);
  EXPECT_TRUE(launcher().process(0).alive()) << "the run must finish under its old definition";

  // The attempt fails and gives its slot back; the retry runs under the old definition,
  // whose pool is gone.
  launcher().exit(0, 1);
  advance(5s);
  ASSERT_EQ(launcher().spawned(), 2u);
  EXPECT_EQ(launcher().process(1).env("KAIROS_ATTEMPT"), "2");
  launcher().exit(1, 0);
  settle();
  auto row = run_row(id);
  ASSERT_TRUE(row);
  EXPECT_EQ(row->status, succeeded);
  EXPECT_EQ(row->attempts, 2);
  EXPECT_EQ(ledger().active_count(), 0u);

  // A pool of that name added back later is a new one, with all its slots.
  load(R"(
pools: {p: 1}
jobs:
  c: {command: [c], schedule: {after: 1s}, pool: p}
  other: {command: [o], schedule: {every: 1h}}
)");
  advance(1s);
  EXPECT_EQ(launcher().spawned(), 3u);
}

INSTANTIATE_TEST_SUITE_P(, PoolRemovedTest, ::testing::Bool(), [](const auto& info) {
  return info.param ? "JobChangedToNoPool" : "JobRemoved";
});

TEST_F(ReloadTest, ARunningRunOfAChangedJobFinishesUnderItsOldDefinition) {
  load(R"(
jobs:
  a: {command: [old], schedule: {every: 10s}}
)");
  advance(10s);
  load(R"(
jobs:
  a: {command: [new], schedule: {every: 10s}}
)");
  EXPECT_EQ(scheduler().find("a")->active.size(), 1u) << "the new job counts the old run";
  advance(10s);  // forbid: the old definition's run still blocks
  auto rows = runs("a");
  ASSERT_EQ(statuses(rows), (std::vector{running, skipped}));
  launcher().exit(0, 0);
  advance(10s);
  ASSERT_EQ(launcher().spawned(), 2u);
  EXPECT_EQ(launcher().process(0).argv()[0], "old");
  EXPECT_EQ(launcher().process(1).argv()[0], "new");
}

TEST_F(ReloadTest, OnRemoveCancelCancelsTheRemovedJobsRunsAndFinishLetsThemEnd) {
  load(R"(
jobs:
  f: {command: [f], schedule: {after: 1s}}
  c: {command: [c], schedule: {after: 1s}}
)");
  advance(1s);
  load(R"(
daemon: {on_remove: cancel}
jobs:
  f: {command: [f], schedule: {after: 1s}}
)");
  auto c = runs("c").at(0);
  EXPECT_EQ(c.status, cancelled);
  EXPECT_EQ(c.error, "job removed from the configuration");
  load(R"(
jobs: {}
)");
  EXPECT_EQ(runs("f").at(0).status, running);  // on_remove: finish (the default)
  launcher().exit(0, 0);
  settle();
  EXPECT_EQ(runs("f").at(0).status, succeeded);
}

TEST_F(ReloadTest, AChangeInTheWriteAheadWindowFiresThatInstantOnce) {
  load(R"(
jobs:
  a: {command: [a], schedule: {every: 10s}}
)");
  advance(10s - 30ms);
  ASSERT_EQ(statuses(runs("a")), std::vector{queued});
  load(R"(
jobs:
  a: {command: [a], schedule: {every: 10s}, description: changed}
)");
  advance(30ms);
  auto rows = runs("a");
  ASSERT_EQ(statuses(rows), std::vector{running});
  EXPECT_EQ(rows[0].scheduled_at, kStart + 10'000);
  EXPECT_EQ(launcher().spawned(), 1u);
}

TEST_F(ReloadTest, LoweringMaxConcurrentRunsTakesEffectAsRunningRunsEnd) {
  const char* jobs = R"(
jobs:
  a: {command: [a], schedule: {after: 1s}}
  b: {command: [b], schedule: {after: 1s}}
  c: {command: [c], schedule: {after: 1s}}
)";
  load(std::string("daemon: {max_concurrent_runs: 2}") + jobs);
  advance(1s);
  ASSERT_EQ(launcher().spawned(), 2u);
  load(std::string("daemon: {max_concurrent_runs: 1}") + jobs);
  launcher().exit(0, 0);
  settle();
  EXPECT_EQ(launcher().spawned(), 2u) << "b still holds the only slot";
  launcher().exit(1, 0);
  settle();
  ASSERT_EQ(launcher().spawned(), 3u);
  EXPECT_EQ(launcher().process(2).env("KAIROS_JOB"), "c");
}

TEST_F(ReloadTest, ADisabledJobNeverFiresButRunsByHand) {
  load(R"(
jobs:
  a: {command: [a], schedule: {every: 10s}, enabled: false}
)");
  advance(1min);
  EXPECT_TRUE(runs("a").empty());
  ASSERT_TRUE(std::holds_alternative<RunPtr>(scheduler().run_now("a", false)));
  settle();
  EXPECT_EQ(launcher().spawned(), 1u);
}

}  // namespace
}  // namespace kairos::daemon::test

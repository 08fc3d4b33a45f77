// Attempts: retries and their backoff, timeouts and kill_grace, commands that cannot start,
// pools and daemon.max_concurrent_runs (docs/semantics.md, "Retries", "Concurrency limits").
#include <signal.h>

#include "core_fixture.h"

namespace kairos::daemon::test {
namespace {

using store::Trigger;
using enum store::RunStatus;

class RunnerTest : public CoreTest {
 protected:
  /// The number of children spawned for `job` so far.
  std::size_t spawned(const std::string& job) { return launcher().of_job(job).size(); }
  fakes::FakeProcess& child(const std::string& job, std::size_t i) {
    return *launcher().of_job(job).at(i);
  }
};

TEST_F(RunnerTest, EachRetryWaitsExactlyItsBackoffUpToMaxBackoff) {
  load(R"(
jobs:
  r:
    command: [flaky]
    schedule: {after: 1s}
    retry: {attempts: 4, backoff: 10s, factor: 3, max_backoff: 1m, jitter: 0}
)");
  advance(1s);
  ASSERT_EQ(spawned("r"), 1u);
  EXPECT_EQ(child("r", 0).env("KAIROS_ATTEMPT"), "1");
  const Millis first = now();
  // min(max_backoff, backoff·factor^(n−1)): 10s, 30s, then 90s capped to 60s.
  const std::chrono::milliseconds delays[] = {10s, 30s, 60s};
  for (std::size_t n = 0; n < std::size(delays); ++n) {
    child("r", n).print("attempt " + std::to_string(n + 1) + "\n");
    child("r", n).exit(1);
    settle();
    auto live = ledger().active();
    ASSERT_EQ(live.size(), 1u);
    EXPECT_EQ(live[0]->phase, RunPhase::backoff);
    advance(delays[n] - 1ms);
    EXPECT_EQ(spawned("r"), n + 1) << "attempt " << n + 2 << " started before its backoff";
    advance(1ms);
    ASSERT_EQ(spawned("r"), n + 2) << "attempt " << n + 2 << " did not start after its backoff";
    EXPECT_EQ(child("r", n + 1).env("KAIROS_ATTEMPT"), std::to_string(n + 2));
  }
  child("r", 3).exit(1);
  settle();
  advance(1h);
  EXPECT_EQ(spawned("r"), 4u);

  auto rows = runs("r");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].status, failed);
  EXPECT_EQ(rows[0].attempts, 4);
  EXPECT_EQ(rows[0].exit_code, 1);
  EXPECT_EQ(rows[0].error, "exit code 1");
  EXPECT_EQ(rows[0].started_at, first);
  auto as = attempts(rows[0].id);
  ASSERT_EQ(as.size(), 4u);
  const Millis starts[] = {first, first + 10'000, first + 40'000, first + 100'000};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(as[i].attempt, static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(as[i].status, failed);
    EXPECT_EQ(as[i].started_at, starts[i]);
  }
  EXPECT_EQ(as[0].output, "attempt 1\n");
}

TEST_F(RunnerTest, ARetryThatSucceedsEndsTheRunSucceeded) {
  load(R"(
jobs:
  r:
    command: [flaky]
    schedule: {after: 1s}
    retry: {attempts: 5, backoff: 1s}
)");
  advance(1s);
  launcher().exit(0, 2);
  advance(1s);
  ASSERT_EQ(spawned("r"), 2u);
  launcher().exit(1, 0);
  settle();
  advance(1h);
  EXPECT_EQ(spawned("r"), 2u);
  auto rows = runs("r");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].status, succeeded);
  EXPECT_EQ(rows[0].attempts, 2);
  auto as = attempts(rows[0].id);
  ASSERT_EQ(as.size(), 2u);
  EXPECT_EQ(as[0].status, failed);
  EXPECT_EQ(as[0].exit_code, 2);
  EXPECT_EQ(as[1].status, succeeded);
}

TEST_F(RunnerTest, ATimeoutIsRetriedOnlyWhenRetryOnNamesIt) {
  load(R"(
jobs:
  failure-only:
    command: [hang]
    schedule: {after: 1s}
    timeout: 5s
    retry: {attempts: 3, backoff: 2s, on: [failure]}
  timeout-only:
    command: [hang]
    schedule: {after: 1s}
    timeout: 5s
    retry: {attempts: 3, backoff: 2s, on: [timeout]}
)");
  advance(1s);
  ASSERT_EQ(spawned("failure-only"), 1u);
  ASSERT_EQ(spawned("timeout-only"), 1u);
  advance(5s);  // both time out (they obey SIGTERM)
  EXPECT_EQ(child("failure-only", 0).signals(), std::vector{SIGTERM});
  advance(2s);
  EXPECT_EQ(spawned("failure-only"), 1u);
  ASSERT_EQ(spawned("timeout-only"), 2u);
  // A failure is not what `on: [timeout]` retries.
  child("timeout-only", 1).exit(3);
  settle();
  advance(1h);
  EXPECT_EQ(spawned("timeout-only"), 2u);

  auto f = runs("failure-only");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].status, timed_out);
  EXPECT_EQ(f[0].attempts, 1);
  EXPECT_EQ(f[0].error, "timed out after 5s");
  auto t = runs("timeout-only");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].status, failed);
  EXPECT_EQ(t[0].attempts, 2);
  auto as = attempts(t[0].id);
  ASSERT_EQ(as.size(), 2u);
  EXPECT_EQ(as[0].status, timed_out);
  EXPECT_EQ(as[1].status, failed);
}

TEST_F(RunnerTest, ATimeoutSendsSigtermThenSigkillAfterKillGraceToAChildThatIgnoresIt) {
  load(R"(
jobs:
  stubborn:
    command: [hang]
    schedule: {after: 1s}
    timeout: 5s
    kill_grace: 3s
)");
  launcher().ignore_sigterm_by_default = true;
  advance(1s);
  auto& c = launcher().process(0);
  advance(5s - 1ms);
  EXPECT_TRUE(c.signals().empty());
  advance(1ms);
  EXPECT_EQ(c.signals(), std::vector{SIGTERM});
  EXPECT_TRUE(c.alive());
  EXPECT_EQ(runs("stubborn")[0].status, running);
  advance(3s - 1ms);
  EXPECT_TRUE(c.alive());
  advance(1ms);
  EXPECT_EQ(c.signals(), (std::vector{SIGTERM, SIGKILL}));
  EXPECT_FALSE(c.alive());

  auto rows = runs("stubborn");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].status, timed_out);
  EXPECT_EQ(rows[0].signal, SIGKILL);
  EXPECT_EQ(rows[0].error, "timed out after 5s");
  EXPECT_EQ(rows[0].finished_at, kStart + 9'000);
  auto as = attempts(rows[0].id);
  ASSERT_EQ(as.size(), 1u);
  EXPECT_EQ(as[0].status, timed_out);
  EXPECT_EQ(as[0].finished_at, kStart + 9'000);
  EXPECT_TRUE(c.late_signals().empty());
}

TEST_F(RunnerTest, AChildThatObeysSigtermIsNeverSentSigkill) {
  load(R"(
jobs:
  polite:
    command: [hang]
    schedule: {after: 1s}
    timeout: 5s
    kill_grace: 3s
)");
  advance(6s);
  auto& c = launcher().process(0);
  EXPECT_EQ(c.signals(), std::vector{SIGTERM});
  advance(1h);
  EXPECT_TRUE(c.late_signals().empty()) << "the kill_grace alarm outlived the attempt";
  EXPECT_EQ(clock().mono_deadlines(), 0u);
  EXPECT_EQ(runs("polite")[0].signal, SIGTERM);
}

TEST_F(RunnerTest, ACommandThatCannotStartFailsTheAttemptAndIsRetriedLikeAnyFailure) {
  launcher().fail_command("missing");
  load(R"(
jobs:
  m:
    command: [missing, --flag]
    schedule: {after: 1s}
    retry: {attempts: 2, backoff: 5s}
)");
  advance(6s);
  EXPECT_EQ(launcher().spawned(), 0u);
  EXPECT_EQ(launcher().failed_spawns(), 2u);
  auto rows = runs("m");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].status, failed);
  EXPECT_EQ(rows[0].attempts, 2);
  EXPECT_EQ(rows[0].error, "command not found: missing");
  EXPECT_FALSE(rows[0].exit_code);
  auto as = attempts(rows[0].id);
  ASSERT_EQ(as.size(), 2u);
  EXPECT_EQ(as[1].error, "command not found: missing");
}

TEST_F(RunnerTest, AChildThatFailsBeforeExecRecordsWhy) {
  load(R"(
jobs:
  w:
    command: [prog]
    schedule: {after: 1s}
    working_dir: /nonexistent
)");
  advance(1s);
  ASSERT_EQ(launcher().spawned(), 1u);
  EXPECT_EQ(launcher().process(0).options().working_dir, "/nonexistent");
  launcher().process(0).fail_exec("working_dir /nonexistent: No such file or directory");
  settle();
  auto rows = runs("w");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].status, failed);
  EXPECT_EQ(rows[0].error, "working_dir /nonexistent: No such file or directory");
}

TEST_F(RunnerTest, TheEnvironmentIsCleanAndNamesTheRun) {
  load(R"(
jobs:
  e:
    command: [prog, arg]
    schedule: {after: 1s}
    env: {FOO: bar, PATH: /opt/bin}
)");
  advance(1s);
  auto& c = launcher().process(0);
  auto row = runs("e").at(0);
  EXPECT_EQ(c.argv(), (std::vector<std::string>{"prog", "arg"}));
  EXPECT_EQ(c.env("KAIROS_JOB"), "e");
  EXPECT_EQ(c.env("KAIROS_RUN_ID"), std::to_string(row.id));
  EXPECT_EQ(c.env("KAIROS_ATTEMPT"), "1");
  EXPECT_EQ(c.env("KAIROS_SCHEDULED_AT"), "2027-01-04T00:00:01+00:00");
  EXPECT_EQ(c.env("FOO"), "bar");
  EXPECT_EQ(c.env("PATH"), "/opt/bin");
  EXPECT_TRUE(c.env("USER"));
  EXPECT_FALSE(c.env("KAIROS_TEST_LOG"));
  EXPECT_EQ(c.options().env.size(), 10u);  // PATH HOME USER LOGNAME SHELL FOO KAIROS_*×4
}

TEST_F(RunnerTest, APoolRunsItsJobsOneAtATimeInFiringOrder) {
  load(R"(
pools: {p: 1}
jobs:
  a: {command: [a], schedule: {after: 1s}, pool: p}
  b: {command: [b], schedule: {after: 1s}, pool: p}
  c: {command: [c], schedule: {after: 1s}, pool: p}
  free: {command: [f], schedule: {after: 1s}}
)");
  advance(1s);
  EXPECT_EQ(spawned("a"), 1u);
  EXPECT_EQ(spawned("b"), 0u);
  EXPECT_EQ(spawned("c"), 0u);
  EXPECT_EQ(spawned("free"), 1u);
  EXPECT_EQ(runs("b")[0].status, queued);
  EXPECT_EQ(runs("c")[0].status, queued);
  advance(10s);
  child("a", 0).exit(0);
  settle();
  EXPECT_EQ(spawned("b"), 1u);
  EXPECT_EQ(spawned("c"), 0u);
  EXPECT_EQ(runs("b")[0].started_at, kStart + 11'000);
  child("b", 0).exit(0);
  settle();
  EXPECT_EQ(spawned("c"), 1u);
  EXPECT_EQ(runs("c")[0].status, running);
}

TEST_F(RunnerTest, MaxConcurrentRunsQueuesTheRestFifoUntilASlotFrees) {
  load(R"(
daemon: {max_concurrent_runs: 2}
jobs:
  a: {command: [a], schedule: {after: 1s}}
  b: {command: [b], schedule: {after: 1s}}
  c: {command: [c], schedule: {after: 1s}}
  d: {command: [d], schedule: {after: 2s}}
)");
  advance(2s);
  EXPECT_EQ(launcher().spawned(), 2u);
  EXPECT_EQ(runs("c")[0].status, queued);
  EXPECT_EQ(runs("d")[0].status, queued);
  child("b", 0).exit(0);
  settle();
  ASSERT_EQ(launcher().spawned(), 3u);
  EXPECT_EQ(launcher().last().env("KAIROS_JOB"), "c");  // first come, first served
  child("a", 0).exit(0);
  settle();
  ASSERT_EQ(launcher().spawned(), 4u);
  EXPECT_EQ(launcher().last().env("KAIROS_JOB"), "d");
}

TEST_F(RunnerTest, ARunInBackoffHoldsNoSlotAndQueuesForOneAgainToRetry) {
  load(R"(
pools: {p: 1}
jobs:
  r:
    command: [r]
    schedule: {after: 1s}
    pool: p
    retry: {attempts: 2, backoff: 10s}
  other: {command: [o], schedule: {after: 2s}, pool: p}
)");
  advance(1s);
  child("r", 0).exit(1);
  advance(1s);
  EXPECT_EQ(spawned("other"), 1u) << "the run in backoff kept its pool slot";
  advance(9s);  // r's retry is due, but `other` holds the slot
  EXPECT_EQ(spawned("r"), 1u);
  auto live = ledger().find(runs("r")[0].id);
  ASSERT_TRUE(live);
  EXPECT_EQ(live->phase, RunPhase::queued);
  EXPECT_EQ(runs("r")[0].status, queued);
  advance(5s);
  child("other", 0).exit(0);
  settle();
  ASSERT_EQ(spawned("r"), 2u);
  EXPECT_EQ(child("r", 1).env("KAIROS_ATTEMPT"), "2");
  child("r", 1).exit(0);
  settle();
  auto row = runs("r")[0];
  EXPECT_EQ(row.status, succeeded);
  auto as = attempts(row.id);
  ASSERT_EQ(as.size(), 2u);
  EXPECT_EQ(as[1].started_at, kStart + 16'000);
}

}  // namespace
}  // namespace kairos::daemon::test

// Issue 4: retries, overlap policies, limits, cancellation, catch-up, no orphans, user.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <regex>

#include "harness.h"

namespace kairos::testing {
namespace {

using namespace std::chrono_literals;

std::int64_t finished(const Daemon& d, const std::string& job) {
  return d.count("SELECT count(*) FROM runs WHERE job='" + job +
                 "' AND finished_at IS NOT NULL AND status NOT IN ('skipped','missed')");
}

TEST(Retry, FailsTwiceThenSucceedsWithBackoffInsideJitterBounds) {
  Daemon d(R"(jobs:
  flaky:
    shell: '[ "$KAIROS_ATTEMPT" -ge 3 ] || exit 1'
    schedule: {after: 50ms}
    retry: {attempts: 5, backoff: 200ms, factor: 2, jitter: 0.25}
)");
  d.start();
  ASSERT_TRUE(wait_for([&] { return finished(d, "flaky") == 1; })) << d.log();
  d.stop();
  auto run = d.runs().at(0);
  EXPECT_EQ(run.status, "succeeded");
  EXPECT_EQ(run.attempts, 3);
  auto a = d.attempts(run.id);
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].status, "failed");
  EXPECT_EQ(a[1].status, "failed");
  EXPECT_EQ(a[2].status, "succeeded");
  // The delays kairosd drew, as it logs them: 200ms ±25% before attempt 2, 400ms ±25%
  // before attempt 3.
  std::map<int, Millis> delay;
  const std::string log = d.log();
  const std::regex said(R"(job=flaky run=\d+ attempt=(\d+) failed; retrying in (\d+)ms)");
  for (std::sregex_iterator m(log.begin(), log.end(), said), end; m != end; ++m)
    delay[std::stoi((*m)[1])] = std::stoll((*m)[2]);
  ASSERT_EQ(delay.size(), 2u) << log;
  EXPECT_GE(delay[1], 150);
  EXPECT_LE(delay[1], 250);
  EXPECT_GE(delay[2], 300);
  EXPECT_LE(delay[2], 500);
  // Each waited out, never less (ms clock); the upper bound only says "then it retried".
  auto gap1 = *a[1].started_at - *a[0].finished_at;
  auto gap2 = *a[2].started_at - *a[1].finished_at;
  EXPECT_GE(gap1, delay[1] - 2);
  EXPECT_LE(gap1, delay[1] + 1000);
  EXPECT_GE(gap2, delay[2] - 2);
  EXPECT_LE(gap2, delay[2] + 1000);
}

TEST(Retry, TimeoutRetriesOnlyWhenAsked) {
  Daemon d(R"(jobs:
  on-timeout:
    shell: "sleep 5"
    schedule: {after: 50ms}
    timeout: 200ms
    kill_grace: 100ms
    retry: {attempts: 2, backoff: 50ms, on: [timeout]}
  on-failure:
    shell: "sleep 5"
    schedule: {after: 50ms}
    timeout: 200ms
    kill_grace: 100ms
    retry: {attempts: 2, backoff: 50ms, on: [failure]}
)");
  d.start();
  ASSERT_TRUE(wait_for([&] { return finished(d, "on-timeout") == 1 && finished(d, "on-failure") == 1; }))
      << d.log();
  d.stop();
  auto t = d.runs("job='on-timeout'").at(0);
  EXPECT_EQ(t.status, "timed_out");
  EXPECT_EQ(t.attempts, 2);
  auto f = d.runs("job='on-failure'").at(0);
  EXPECT_EQ(f.status, "timed_out");
  EXPECT_EQ(f.attempts, 1);
}

std::vector<std::string> statuses(const Daemon& d, const std::string& job) {
  std::vector<std::string> out;
  for (const auto& r : d.runs("job='" + job + "'")) out.push_back(r.status);
  return out;
}

// A 700 ms job fired every 300 ms: firings at 300, 600, 900, 1200, ... ms.
std::string overlap_job(const std::string& policy, const std::string& extra = "") {
  return "jobs:\n  j:\n    shell: \"sleep 0.7\"\n    schedule: {every: 300ms}\n    concurrency: " +
         policy + "\n" + extra;
}

TEST(Overlap, ForbidSkipsWhileRunning) {
  Daemon d(overlap_job("forbid"));
  d.start();
  ASSERT_TRUE(wait_for([&] { return d.count("SELECT count(*) FROM runs") >= 5; })) << d.log();
  d.stop();
  auto s = statuses(d, "j");
  // Firing 1 runs (300..1000 ms); firings 2 and 3 (600, 900) are skipped; firing 4 runs.
  ASSERT_GE(s.size(), 4u);
  EXPECT_EQ(s[0], "succeeded");
  EXPECT_EQ(s[1], "skipped");
  EXPECT_EQ(s[2], "skipped");
  EXPECT_NE(s[3], "skipped");
  auto skipped = d.runs("status='skipped'").at(0);
  EXPECT_NE(skipped.error.find("forbid"), std::string::npos);
}

TEST(Overlap, AllowRespectsMaxInstances) {
  Daemon d(overlap_job("allow", "    max_instances: 2\n"));
  d.start();
  ASSERT_TRUE(wait_for([&] { return d.count("SELECT count(*) FROM runs") >= 4; })) << d.log();
  d.stop();
  auto s = statuses(d, "j");
  // 300 and 600 run together; 900 finds two active → skipped.
  ASSERT_GE(s.size(), 3u);
  EXPECT_NE(s[0], "skipped");
  EXPECT_NE(s[1], "skipped");
  EXPECT_EQ(s[2], "skipped");
}

TEST(Overlap, ReplaceCancelsTheRunningRun) {
  Daemon d(overlap_job("replace", "    kill_grace: 100ms\n"));
  d.start();
  ASSERT_TRUE(wait_for([&] { return d.count("SELECT count(*) FROM runs WHERE status='cancelled'") >= 2; }))
      << d.log();
  d.stop();
  auto rows = d.runs("job='j'");
  EXPECT_EQ(rows[0].status, "cancelled");
  EXPECT_NE(rows[0].error.find("replaced"), std::string::npos) << rows[0].error;
  EXPECT_EQ(d.count("SELECT count(*) FROM runs WHERE status='skipped'"), 0);
}

TEST(Overlap, QueueRunsOneAfterAnotherAndCoalesces) {
  Daemon d(overlap_job("queue"));
  d.start();
  ASSERT_TRUE(wait_for([&] { return finished(d, "j") >= 2; }, 10s)) << d.log();
  d.signal(SIGKILL);
  d.wait_exit();
  auto rows = d.runs("job='j'");
  // 300 runs; 600 queues behind it; 900 coalesces (skipped); 1000 the queued one starts.
  ASSERT_GE(rows.size(), 3u);
  EXPECT_EQ(rows[0].status, "succeeded");
  EXPECT_EQ(rows[2].status, "skipped");
  EXPECT_NE(rows[2].error.find("coalesced into queued run " + std::to_string(rows[1].id)),
            std::string::npos);
  ASSERT_TRUE(rows[1].started_at);
  EXPECT_GE(*rows[1].started_at, *rows[0].finished_at);  // strictly after, never overlapping
}

struct Interval {
  Millis start, end;
};

int max_overlap(std::vector<Interval> v) {
  std::vector<std::pair<Millis, int>> ev;
  for (auto& i : v) {
    ev.push_back({i.start, 1});
    ev.push_back({i.end, -1});
  }
  std::sort(ev.begin(), ev.end());  // ends (-1) sort before starts (+1) at equal times
  int cur = 0, best = 0;
  for (auto& e : ev) best = std::max(best, cur += e.second);
  return best;
}

TEST(Limits, GlobalLimitOfTwo) {
  std::string yaml = "daemon:\n  max_concurrent_runs: 2\njobs:\n";
  for (int i = 0; i < 10; ++i)
    yaml += "  j" + std::to_string(i) +
            ":\n    shell: \"sleep 0.3\"\n    schedule: {after: 200ms}\n";
  Daemon d(yaml);
  d.start();
  ASSERT_TRUE(wait_for([&] { return d.count("SELECT count(*) FROM runs WHERE status='succeeded'") == 10; }, 20s))
      << d.log();
  d.stop();
  // By the runs on record, not ids 1..10: a firing that does not happen after all (a
  // clock step wakes every job) deletes its row written ahead, and the next one gets a
  // new id.
  std::vector<Interval> iv;
  for (const auto& r : d.runs("status='succeeded'")) {
    auto attempts = d.attempts(r.id);
    ASSERT_EQ(attempts.size(), 1u) << "run " << r.id << "\n" << d.log();
    iv.push_back({*attempts[0].started_at, *attempts[0].finished_at});
  }
  EXPECT_EQ(iv.size(), 10u);
  EXPECT_EQ(max_overlap(iv), 2) << d.log();
}

TEST(Limits, PoolOfOneSerializes) {
  Daemon d(R"(pools: {db: 1}
jobs:
  a:
    shell: "sleep 0.3"
    schedule: {after: 100ms}
    pool: db
  b:
    shell: "sleep 0.3"
    schedule: {after: 100ms}
    pool: db
  c:
    shell: "sleep 0.3"
    schedule: {after: 100ms}
    pool: db
  free:
    shell: "sleep 0.3"
    schedule: {after: 100ms}
)");
  d.start();
  ASSERT_TRUE(wait_for([&] { return d.count("SELECT count(*) FROM runs WHERE status='succeeded'") == 4; }))
      << d.log();
  d.stop();
  std::vector<Interval> pooled, all;
  for (const auto& r : d.runs()) {
    Interval i{*r.started_at, *r.finished_at};
    all.push_back(i);
    if (r.job != "free") pooled.push_back(i);
  }
  EXPECT_EQ(max_overlap(pooled), 1);
  EXPECT_GE(max_overlap(all), 2);  // the job outside the pool ran alongside
}

TEST(Cancel, RunningBackoffAndQueuedRunsEndCancelledAndFreeTheirSlot) {
  const std::string marker = own("1000.7171");
  Daemon d(R"(daemon:
  max_concurrent_runs: 1
jobs:
  long:
    shell: "sleep )" +
           marker + R"("
    schedule: {after: 50ms}
    kill_grace: 200ms
  waiting:
    shell: "true"
    schedule: {after: 100ms}
  backoff:
    shell: "exit 1"
    schedule: {after: 1s}
    retry: {attempts: 3, backoff: 10s}
  after-all:
    shell: "echo free"
    schedule: {after: 300ms}
)");
  d.start();
  // (backoff may queue too, behind after-all, if this test is slow: that changes nothing.)
  ASSERT_TRUE(d.wait_for_rows("job IN ('waiting','after-all') AND status='queued'", 2)) << d.log();
  auto queued = d.runs("job='waiting'").at(0);
  // Cancel while queued.
  auto r = d.call("cancel", {{"run_id", queued.id}});
  ASSERT_TRUE(r.contains("result")) << r.dump();
  ASSERT_TRUE(wait_for([&] { return d.runs("job='waiting'").at(0).status == "cancelled"; }));
  // Cancel the running one: its slot goes to after-all.
  auto running = d.runs("job='long'").at(0);
  r = d.call("cancel", {{"job", "long"}});
  ASSERT_EQ(r["result"]["cancelled"].size(), 1u) << r.dump();
  ASSERT_TRUE(wait_for([&] { return d.runs("job='long'").at(0).status == "cancelled"; })) << d.log();
  EXPECT_FALSE(process_exists(marker)) << d.log();
  ASSERT_TRUE(wait_for([&] { return d.count("SELECT count(*) FROM runs WHERE job='after-all' AND status='succeeded'") == 1; }))
      << d.log();
  // Cancel during backoff: the run ends at once, no more attempts.
  ASSERT_TRUE(wait_for([&] { return d.count("SELECT count(*) FROM attempts a JOIN runs r ON r.id=a.run_id WHERE r.job='backoff' AND a.status='failed'") == 1; }, 10s))
      << d.log();
  auto b = d.runs("job='backoff'").at(0);
  Millis t0 = now_ms();
  r = d.call("cancel", {{"run_id", b.id}});
  ASSERT_TRUE(wait_for([&] { return d.runs("job='backoff'").at(0).status == "cancelled"; }));
  EXPECT_LT(now_ms() - t0, 2000);  // at once, not after the 10 s backoff
  EXPECT_EQ(d.runs("job='backoff'").at(0).attempts, 1);
  auto st = d.call("status");
  EXPECT_EQ(st["result"]["running"], 0) << st.dump();
  d.stop();
}

// A scheduled firing's row is written (`queued`) 50–60 ms before its instant; cancelling it
// then must work, and the firing must not start. The test catches a row in that window; a
// try that comes too late (the run has started) is retried on the next firing.
TEST(Cancel, AFiringWrittenAheadCanBeCancelledAndNeverStarts) {
  Daemon d(R"(jobs:
  tick:
    shell: "echo ran"
    schedule: {every: 1s}
)");
  d.start();
  // Catches a firing in its 50–60 ms window and cancels it by id or by job; true once a
  // try came in time (a late one cancels the run after it started, and is retried).
  auto catch_one = [&](bool by_job) {
    for (int tries = 0; tries < 5; ++tries) {
      std::int64_t id = 0;
      wait_for(
          [&] {
            auto q = d.runs("job='tick' AND status='queued'");
            if (!q.empty()) id = q.at(0).id;
            return id != 0;
          },
          3s, 2ms);  // polled often: the window is 50 ms wide
      EXPECT_NE(id, 0) << d.log();
      if (id == 0) return false;
      auto r = by_job ? d.call("cancel", {{"job", "tick"}}) : d.call("cancel", {{"run_id", id}});
      EXPECT_TRUE(r.contains("result")) << r.dump();
      if (!wait_for([&] { return d.runs("id=" + std::to_string(id)).at(0).status == "cancelled"; }))
        return false;
      auto row = d.runs("id=" + std::to_string(id)).at(0);
      if (row.attempts != 0) continue;  // too late: it had started
      EXPECT_FALSE(row.started_at.has_value());
      EXPECT_NE(row.error.find("cancelled by kairosctl"), std::string::npos) << row.error;
      EXPECT_EQ(d.count("SELECT count(*) FROM attempts WHERE run_id=" + std::to_string(id)), 0);
      if (by_job) {
        EXPECT_EQ(r["result"]["cancelled"].size(), 1u) << r.dump();
      }
      return true;
    }
    return false;
  };
  EXPECT_TRUE(catch_one(false)) << "never caught a firing before its instant (by id)";
  EXPECT_TRUE(catch_one(true)) << "never caught a firing before its instant (by job)";
  // The job goes on firing.
  ASSERT_TRUE(wait_for([&] { return finished(d, "tick") >= 1; }, 5s)) << d.log();
  d.stop();
}

TEST(Cancel, CancelOfAFinishedRunIsAnError) {
  Daemon d(R"(jobs:
  quick:
    shell: "true"
    schedule: {after: 50ms}
)");
  d.start();
  ASSERT_TRUE(wait_for([&] { return finished(d, "quick") == 1; }));
  auto r = d.call("cancel", {{"run_id", d.runs().at(0).id}});
  ASSERT_TRUE(r.contains("error")) << r.dump();
  r = d.call("cancel", {{"run_id", 99999}});
  ASSERT_TRUE(r.contains("error"));
  d.stop();
}

TEST(Pause, StopsFiringsAndResumeDoesNotReplay) {
  // clock fires with tick, on the same instants (same anchor, same period).
  Daemon d(R"(jobs:
  tick:
    shell: "true"
    schedule: {every: 200ms}
)" + kClockJob);
  const std::string ticks = "SELECT count(*) FROM runs WHERE job='tick'";
  d.start();
  ASSERT_TRUE(wait_for([&] { return finished(d, "tick") >= 1; }));
  auto r = d.call("pause", {{"job", "tick"}});
  ASSERT_EQ(r["result"]["state"], "paused") << r.dump();
  // A firing written ahead when the pause came is deleted at its instant; the clock's next
  // firing is recorded after that.
  ASSERT_TRUE(d.wait_for_firings("clock", 2)) << d.log();
  auto before = d.count(ticks);
  ASSERT_TRUE(d.wait_for_firings("clock", 6)) << d.log();  // 1 s of firings
  EXPECT_EQ(d.count(ticks), before) << "a paused job fired";
  auto last_id = d.count("SELECT max(id) FROM runs");
  Millis resumed = now_ms();
  d.call("resume", {{"job", "tick"}});
  ASSERT_TRUE(wait_for([&] { return d.count(ticks) >= before + 1; })) << d.log();
  ASSERT_TRUE(d.wait_for_firings("clock", 2)) << d.log();
  auto after = d.count(ticks);
  EXPECT_GE(after, before + 1);
  EXPECT_LE(after, before + 4) << "paused firings were replayed";
  // Nothing from before the resume: no catch-up, no missed row, no late firing.
  EXPECT_EQ(d.count(ticks + " AND id > " + std::to_string(last_id) +
                    " AND (trigger != 'schedule' OR status = 'missed' OR scheduled_at < " +
                    std::to_string(resumed) + ")"),
            0)
      << "paused firings were replayed";
  d.stop();
}

TEST(NoOrphans, DoubleForkedSleepIsKilled) {
  const std::string marker = own("1000.8181");
  Daemon d(R"(jobs:
  forker:
    shell: "(sleep )" +
           marker + R"( &) ; echo forked"
    schedule: {after: 50ms}
)");
  d.start();
  ASSERT_TRUE(wait_for([&] { return finished(d, "forker") == 1; })) << d.log();
  EXPECT_TRUE(wait_for([&] { return !process_exists(marker); }))
      << "a double-forked descendant survived its job";
  d.stop();
}

TEST(User, RunsAsTheConfiguredUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  Daemon d(R"(jobs:
  who:
    shell: 'echo "$(id -u) $USER $HOME"'
    schedule: {after: 50ms}
    user: nobody
)");
  d.start();
  ASSERT_TRUE(wait_for([&] { return finished(d, "who") == 1; })) << d.log();
  d.stop();
  auto run = d.runs().at(0);
  EXPECT_EQ(run.status, "succeeded") << run.error;
  EXPECT_EQ(d.attempts(run.id).at(0).output, "65534 nobody /nonexistent\n");
}

// Catch-up after a real outage: one daemon, one job per policy, all every 200 ms from one
// anchor. It runs until each job has fired, is stopped (SIGTERM), stays down until ten more
// firings have passed (more than 1 s late: caught up, not run late), and is started again.
// The tests below share that one outage.
constexpr Millis kPeriod = 200;
const std::vector<std::string> kPolicies = {"none", "last", "all", "max-age"};

struct Outage {
  std::string error;                   // why the outage could not be staged, if it could not
  std::string log;                     // kairosd's, for failure messages
  std::map<std::string, Millis> last;  // each job's last firing before the stop
  // Each job's first firing on schedule after the restart: it comes after the catch-up.
  std::map<std::string, Millis> next;
  // Each job's rows that the restart wrote for the outage: catch_up runs and missed rows.
  std::map<std::string, std::vector<Row>> rows;
  std::int64_t firings(const std::string& job) const {  // how many the outage held
    return (next.at(job) - last.at(job)) / kPeriod - 1;
  }
};

Outage stage_outage() {
  Outage o;
  std::string yaml = "jobs:\n";
  for (const auto& p : kPolicies)
    yaml += "  " + p +
            ":\n    shell: \"true\"\n    schedule: {every: 200ms}\n    catch_up: {policy: " +
            (p == "max-age" ? "all, max_age: 600ms" : p) + "}\n";
  Daemon d(yaml);
  d.start();
  for (const auto& p : kPolicies) {
    if (!d.wait_for_rows("job='" + p + "' AND status='succeeded'", 1)) {
      o.error = p + " never fired:\n" + d.log();
      return o;
    }
  }
  d.stop();
  Millis newest = 0;
  for (const auto& p : kPolicies) {
    o.last[p] = d.count("SELECT max(scheduled_at) FROM runs WHERE job='" + p + "'");
    newest = std::max(newest, o.last[p]);
  }
  // Down until ten firings have passed: a wait for that instant, not a sleep.
  const Millis until = newest + 10 * kPeriod + 50;
  wait_for([&] { return now_ms() > until; }, std::chrono::milliseconds(until - now_ms() + 5000));
  d.start();
  // Done when each job is back on schedule and every firing of the outage is accounted for.
  auto accounted = [&](const std::string& p) {
    const std::string job = "job='" + p + "'", after = std::to_string(o.last[p]);
    auto next =
        d.count("SELECT coalesce(min(scheduled_at), 0) FROM runs WHERE " + job +
                " AND trigger='schedule' AND status != 'missed' AND scheduled_at > " + after);
    if (next == 0) return false;
    o.next[p] = next;
    return d.count("SELECT coalesce(sum(missed_count), 0) FROM runs WHERE " + job +
                   " AND status='missed'") +
               d.count("SELECT count(*) FROM runs WHERE " + job +
                       " AND trigger='catch_up' AND finished_at IS NOT NULL") >=
           o.firings(p);
  };
  for (const auto& p : kPolicies) {
    if (!wait_for([&] { return accounted(p); })) {
      o.error = p + ": the outage's firings are not all accounted for:\n" + d.log();
      return o;
    }
  }
  d.stop();
  for (const auto& p : kPolicies)
    o.rows[p] = d.runs("job='" + p + "' AND (trigger != 'schedule' OR status = 'missed')");
  o.log = d.log();
  return o;
}

const Outage& outage() {
  static const Outage o = stage_outage();
  return o;
}

TEST(CatchUp, NoneRecordsOneCompactMissedRow) {
  const auto& o = outage();
  ASSERT_TRUE(o.error.empty()) << o.error;
  const auto& rows = o.rows.at("none");
  ASSERT_EQ(rows.size(), 1u) << o.log;
  EXPECT_EQ(rows[0].status, "missed");
  EXPECT_GE(rows[0].missed_count, 10);
  // Exactly the outage's firings: from the first after the last run to the one before the
  // job's schedule resumed.
  EXPECT_EQ(rows[0].missed_count, o.firings("none"));
  EXPECT_EQ(rows[0].scheduled_at, o.last.at("none") + kPeriod);
  EXPECT_EQ(rows[0].missed_until, o.next.at("none") - kPeriod);
}

TEST(CatchUp, LastRunsOnce) {
  const auto& o = outage();
  ASSERT_TRUE(o.error.empty()) << o.error;
  int runs = 0, missed = 0;
  for (auto& r : o.rows.at("last")) {
    if (r.trigger == "catch_up") {
      ++runs;
      EXPECT_EQ(r.status, "succeeded");
      EXPECT_EQ(r.scheduled_at, o.next.at("last") - kPeriod) << "not the newest firing";
    }
    if (r.status == "missed") missed += static_cast<int>(r.missed_count);
  }
  EXPECT_EQ(runs, 1) << o.log;
  EXPECT_GE(missed, 9) << o.log;
  EXPECT_EQ(missed, o.firings("last") - 1);
}

TEST(CatchUp, AllRunsEachInOrder) {
  const auto& o = outage();
  ASSERT_TRUE(o.error.empty()) << o.error;
  std::vector<Row> runs;
  for (auto& r : o.rows.at("all"))
    if (r.trigger == "catch_up") runs.push_back(r);
  ASSERT_GE(runs.size(), 10u) << o.log;
  EXPECT_EQ(static_cast<std::int64_t>(runs.size()), o.firings("all")) << o.log;
  EXPECT_EQ(runs.front().scheduled_at, o.last.at("all") + kPeriod);
  EXPECT_EQ(runs.back().scheduled_at, o.next.at("all") - kPeriod);
  for (std::size_t i = 1; i < runs.size(); ++i) {
    EXPECT_EQ(*runs[i].scheduled_at - *runs[i - 1].scheduled_at, kPeriod);
    EXPECT_GE(*runs[i].started_at, *runs[i - 1].finished_at) << "not one after another";
  }
}

TEST(CatchUp, MaxAgeLimitsWhatIsCaughtUp) {
  const auto& o = outage();
  ASSERT_TRUE(o.error.empty()) << o.error;
  int runs = 0, missed = 0;
  for (auto& r : o.rows.at("max-age")) {
    runs += r.trigger == "catch_up";
    if (r.status == "missed") missed += static_cast<int>(r.missed_count);
  }
  // 600 ms of 200 ms firings: 3, or 4 when one falls on the limit.
  EXPECT_GE(runs, 2) << o.log;
  EXPECT_LE(runs, 4) << o.log;
  EXPECT_EQ(runs + missed, o.firings("max-age")) << "the older ones are recorded as missed";
}

// A job's state after a firing reaches the database up to a second late; the firing's row,
// committed before its process started, tells the restarted daemon that it happened.
TEST(CatchUp, AFiringJustBeforeAKill9IsNotCaughtUpAgain) {
  Daemon d(
      "jobs:\n  j:\n    shell: \"true\"\n    schedule: {every: 1s}\n"
      "    catch_up: {policy: all}\n" +
      kClockJob);
  d.start();
  ASSERT_TRUE(d.wait_for_rows("job='j' AND status='succeeded'", 1)) << d.log();
  d.signal(SIGKILL);
  d.wait_exit();
  auto fired = d.runs("job='j'").at(0);
  d.start();
  // Start-up's catch-up is written before the clock's later firings.
  ASSERT_TRUE(d.wait_for_firings("clock", 2)) << d.log();
  d.stop();
  EXPECT_EQ(d.count("SELECT count(*) FROM runs WHERE job='j' AND (\"trigger\" = 'catch_up' OR "
                    "status = 'missed')"),
            0)
      << d.log();
  // Not run again, not even late: one row for that firing (the next one may have come).
  EXPECT_EQ(d.count("SELECT count(*) FROM runs WHERE job='j' AND scheduled_at <= " +
                    std::to_string(*fired.scheduled_at)),
            1)
      << d.log();
}

TEST(Anchor, IntervalPhaseSurvivesARestart) {
  Daemon d("jobs:\n  j:\n    shell: \"true\"\n    schedule: {every: 700ms}\n");
  d.start();
  ASSERT_TRUE(wait_for([&] { return finished(d, "j") >= 1; }));
  d.stop();
  auto anchor = d.count("SELECT anchor FROM job_state WHERE job='j'");
  // Restart mid-phase, as far as can be from the firing instants, so that a new anchor
  // would show.
  ASSERT_TRUE(wait_for([&] {
    auto phase = (now_ms() - anchor) % 700;
    return phase >= 250 && phase <= 450;
  }));
  d.start();
  ASSERT_TRUE(wait_for([&] { return finished(d, "j") >= 3; }, 10s));
  d.stop();
  for (const auto& r : d.runs("status='succeeded'"))
    EXPECT_EQ((*r.scheduled_at - anchor) % 700, 0) << "phase lost at run " << r.id;
}

}  // namespace
}  // namespace kairos::testing

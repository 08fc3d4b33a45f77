// The fakes the core tests stand on: FakeClock expires deadlines in order and lets the loop
// run between them; FakeLauncher's children end as scripted.
#include <signal.h>

#include <vector>

#include "fake_clock.h"
#include "fake_launcher.h"
#include "loop_fixture.h"

namespace kairos::fakes {
namespace {

using namespace std::chrono_literals;
using async::Clock;
using async::Task;
using async::WakeReason;

class FakesTest : public async::testing::LoopTest {
 protected:
  static constexpr Clock::TimePoint kT0{std::chrono::seconds(1'800'000'000)};
};

Task<void> sleeper(Clock& c, std::chrono::milliseconds wall_at, std::vector<std::string>* log,
                   std::string name) {
  auto why = co_await c.sleep_until(Clock::TimePoint(wall_at));
  log->push_back(name + (why == WakeReason::reached ? "" : "!"));
}

TEST_F(FakesTest, DeadlinesExpireInOrderAndOneAddedByAResumedCoroutineCanComeFirst) {
  FakeClock clock(loop(), kT0);
  clock.set_settle([&] { loop().drain(); });
  std::vector<std::string> log;
  const auto t0 = std::chrono::duration_cast<std::chrono::milliseconds>(kT0.time_since_epoch());
  scope().spawn(sleeper(clock, t0 + 30s, &log, "wall30"));
  // Wakes at 10s (monotonic), then sleeps until 20s (wall): before wall30.
  scope().spawn([](Clock& c, std::chrono::milliseconds t0, std::vector<std::string>* log)
                    -> Task<void> {
    co_await c.sleep_for(10s);
    log->push_back("mono10");
    co_await c.sleep_until(Clock::TimePoint(t0 + 20s));
    log->push_back("wall20");
  }(clock, t0, &log));
  clock.advance(29s);
  EXPECT_EQ(log, (std::vector<std::string>{"mono10", "wall20"}));
  EXPECT_EQ(clock.now(), kT0 + 29s);
  clock.advance(1s);
  EXPECT_EQ(log, (std::vector<std::string>{"mono10", "wall20", "wall30"}));
}

TEST_F(FakesTest, SettingTheWallClockWakesWallSleepersOnlyAndLeavesMonotonicTime) {
  FakeClock clock(loop(), kT0);
  std::vector<std::string> log;
  const auto t0 = std::chrono::duration_cast<std::chrono::milliseconds>(kT0.time_since_epoch());
  scope().spawn(sleeper(clock, t0 + 1h, &log, "wall"));
  bool mono_done = false;
  scope().spawn([](Clock& c, bool* done) -> Task<void> {
    *done = co_await c.sleep_for(1min) == WakeReason::reached;
  }(clock, &mono_done));
  const auto mono = clock.mono_now();
  clock.set_wall(kT0 - 1h);
  EXPECT_EQ(log, std::vector<std::string>{"wall!"});
  EXPECT_EQ(clock.now(), kT0 - 1h);
  EXPECT_EQ(clock.mono_now(), mono);
  EXPECT_FALSE(mono_done);
  clock.advance(1min);
  EXPECT_TRUE(mono_done);
}

TEST_F(FakesTest, AChildDiesOfSigtermUnlessItIgnoresItAndRecordsEverySignal) {
  FakeLauncher launcher;
  async::SpawnOptions o;
  o.argv = {"x"};
  o.env = {"KAIROS_JOB=j"};
  std::string err;
  auto a = launcher.spawn(o, &err);
  auto b = launcher.spawn(o, &err);
  ASSERT_TRUE(a && b);
  launcher.process(1).ignore_sigterm();
  a->signal_group(SIGTERM);
  b->signal_group(SIGTERM);
  EXPECT_FALSE(launcher.process(0).alive());
  EXPECT_EQ(launcher.process(0).status()->signal, SIGTERM);
  EXPECT_TRUE(launcher.process(1).alive());
  b->signal_group(SIGKILL);
  a->signal_group(SIGKILL);
  EXPECT_EQ(launcher.process(1).signals(), (std::vector{SIGTERM, SIGKILL}));
  EXPECT_EQ(launcher.process(0).late_signals(), std::vector{SIGKILL});
  EXPECT_EQ(launcher.of_job("j").size(), 2u);
  EXPECT_EQ(launcher.find_pid(b->pid()), &launcher.process(1));

  launcher.fail_next("no memory");
  launcher.fail_command("x");
  EXPECT_FALSE(launcher.spawn(o, &err));
  EXPECT_EQ(err, "no memory");
  EXPECT_FALSE(launcher.spawn(o, &err));
  EXPECT_EQ(err, "command not found: x");
  EXPECT_EQ(launcher.failed_spawns(), 2u);
  EXPECT_EQ(launcher.spawned(), 2u);
}

TEST_F(FakesTest, WaitResumesWithTheScriptedExitAndOutput) {
  FakeLauncher launcher;
  launcher.on_spawn = [](FakeProcess& p) { p.print("hi\n"); };
  async::SpawnOptions o;
  o.argv = {"x"};
  std::string err;
  auto c = launcher.spawn(o, &err);
  async::ExitStatus st;
  scope().spawn([](async::Child& c, async::ExitStatus* st) -> Task<void> {
    *st = co_await c.wait();
  }(*c, &st));
  launcher.exit(0, 3);
  loop().drain();
  EXPECT_EQ(st.exit_code, 3);
  EXPECT_EQ(c->output(), "hi\n");
}

}  // namespace
}  // namespace kairos::fakes

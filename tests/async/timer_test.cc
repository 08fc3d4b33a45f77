#include <chrono>

#include "async/timeout.h"
#include "async/timer.h"
#include "loop_fixture.h"

namespace kairos::async {
namespace {

using namespace std::chrono_literals;
using testing::LoopTest;
class TimerTest : public LoopTest {};

TEST_F(TimerTest, SleepElapses) {
  auto t0 = std::chrono::steady_clock::now();
  bool elapsed = run_value([]() -> Task<bool> { co_return co_await sleep_for(50ms); }());
  EXPECT_TRUE(elapsed);
  EXPECT_GE(ms_since(t0), 49.0);
  EXPECT_LT(ms_since(t0), 1000.0);
}

TEST_F(TimerTest, CancelWhileSleepingWakesAtOnce) {
  CancelSource src;
  auto t0 = std::chrono::steady_clock::now();
  scope().spawn([](CancelSource* s) -> Task<void> {
    co_await sleep_for(20ms);
    s->request();
  }(&src));
  bool elapsed =
      run_value([](CancelToken t) -> Task<bool> { co_return co_await sleep_for(10s, t); }(
          src.token()));
  EXPECT_FALSE(elapsed);
  EXPECT_LT(ms_since(t0), 2000.0);
}

TEST_F(TimerTest, AlreadyCancelledTokenDoesNotSleep) {
  CancelSource src;
  src.request();
  bool elapsed = run_value(
      [](CancelToken t) -> Task<bool> { co_return co_await sleep_for(10s, t); }(src.token()));
  EXPECT_FALSE(elapsed);
}

TEST_F(TimerTest, ParentCancellationReachesChild) {
  CancelSource parent;
  CancelSource child(parent.token());
  EXPECT_FALSE(child.requested());
  parent.request();
  EXPECT_TRUE(child.requested());
}

Task<int> slow_op(CancelToken t) {
  bool done = co_await sleep_for(5s, t);
  co_return done ? 1 : -1;
}
Task<int> fast_op(CancelToken t) {
  bool done = co_await sleep_for(10ms, t);
  co_return done ? 1 : -1;
}

TEST_F(TimerTest, TimeoutCancelsTheOperationWhenTheTimerWins) {
  auto t0 = std::chrono::steady_clock::now();
  auto r = run_value(with_timeout<int>(50ms, {}, slow_op));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.value, -1);  // the operation saw the cancellation and finished
  EXPECT_LT(ms_since(t0), 2000.0);
}

TEST_F(TimerTest, TimeoutIsDisarmedWhenTheOperationWins) {
  auto r = run_value(with_timeout<int>(5s, {}, fast_op));
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.value, 1);
}

TEST_F(TimerTest, ZeroMeansNoTimeout) {
  auto r = run_value(with_timeout<int>(0ms, {}, fast_op));
  EXPECT_FALSE(r.timed_out);
}

TEST_F(TimerTest, ThousandsOfConcurrentSleepers) {
  int finished = 0;
  for (int i = 0; i < 5000; ++i) {
    scope().spawn([](int* f, int i) -> Task<void> {
      co_await sleep_for(std::chrono::milliseconds(i % 50));
      ++*f;
    }(&finished, i));
  }
  run([]() -> Task<void> { co_return; }());
  EXPECT_EQ(finished, 5000);
}

}  // namespace
}  // namespace kairos::async

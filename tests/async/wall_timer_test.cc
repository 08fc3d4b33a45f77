#include <time.h>

#include "async/timer.h"
#include "async/clock.h"
#include "loop_fixture.h"

namespace kairos::async {
namespace {

using namespace std::chrono_literals;
using testing::LoopTest;

class WallTimerTest : public LoopTest {
 protected:
  void SetUp() override {
    LoopTest::SetUp();
    std::string err;
    wt_ = RealClock::create(loop(), &err);
    ASSERT_TRUE(wt_) << err;
  }
  void TearDown() override {
    wt_->close();
    LoopTest::TearDown();
  }
  std::unique_ptr<RealClock> wt_;
};

TEST_F(WallTimerTest, WakesAtTheDeadlineWithSubMillisecondPrecision) {
  auto target = RealClock::wall_now() + 30ms;
  auto late = run_value([](RealClock* w, Clock::TimePoint at) -> Task<double> {
    auto r = co_await w->sleep_until(at);
    EXPECT_EQ(r, WakeReason::reached);
    co_return std::chrono::duration<double, std::milli>(RealClock::wall_now() - at).count();
  }(wt_.get(), target));
  EXPECT_GE(late, 0.0);
  EXPECT_LT(late, 50.0);  // generous: precision is measured in bench/, not here
}

TEST_F(WallTimerTest, ManyDeadlinesFireInOrder) {
  std::vector<int> order;
  auto base = RealClock::wall_now() + 20ms;
  for (int i = 9; i >= 0; --i)
    scope().spawn([](RealClock* w, Clock::TimePoint at, int id, std::vector<int>* o)
                      -> Task<void> {
      co_await w->sleep_until(at);
      o->push_back(id);
    }(wt_.get(), base + std::chrono::milliseconds(i * 3), i, &order));
  run([]() -> Task<void> { co_return; }());
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST_F(WallTimerTest, CancelWakesTheWaiter) {
  CancelSource src;
  scope().spawn([](CancelSource* s) -> Task<void> {
    co_await sleep_for(10ms);
    s->request();
  }(&src));
  auto r = run_value([](RealClock* w, CancelToken t) -> Task<WakeReason> {
    co_return co_await w->sleep_until(RealClock::wall_now() + 1h, t);
  }(wt_.get(), src.token()));
  EXPECT_EQ(r, WakeReason::cancelled);
  EXPECT_EQ(wt_->wall_timer().waiting(), 0u);
}

TEST_F(WallTimerTest, FarFutureDeadlineCausesNoWakeups) {
  CancelSource src;
  scope().spawn([](CancelSource* s) -> Task<void> {
    co_await sleep_for(300ms);
    s->request();
  }(&src));
  run([](RealClock* w, CancelToken t) -> Task<void> {
    co_await w->sleep_until(RealClock::wall_now() + 24h, t);
  }(wt_.get(), src.token()));
  EXPECT_EQ(wt_->wall_timer().wakeups(), 0u);
}

TEST_F(WallTimerTest, TenThousandDueAtOnce) {
  int fired = 0;
  auto at = RealClock::wall_now() + 50ms;
  for (int i = 0; i < 10000; ++i)
    scope().spawn([](RealClock* w, Clock::TimePoint at, int* f) -> Task<void> {
      if (co_await w->sleep_until(at) == WakeReason::reached) ++*f;
    }(wt_.get(), at, &fired));
  run([]() -> Task<void> { co_return; }());
  EXPECT_EQ(fired, 10000);
  EXPECT_LE(wt_->wall_timer().wakeups(), 2u);
}

}  // namespace
}  // namespace kairos::async

namespace kairos::async {
namespace {

/// Steps the wall clock to its own current value: a no-op for the time of day, but it
/// is a "clock was set" event for TFD_TIMER_CANCEL_ON_SET. Needs CAP_SYS_TIME.
bool step_clock_in_place() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return ::clock_settime(CLOCK_REALTIME, &ts) == 0;
}

class WallClockStepTest : public testing::LoopTest {};

TEST_F(WallClockStepTest, ClockStepWakesEveryWaiterWithClockChanged) {
  std::string err;
  auto wt = RealClock::create(loop(), &err);
  ASSERT_TRUE(wt) << err;
  std::vector<WakeReason> seen;
  for (int i = 0; i < 3; ++i)
    scope().spawn([](RealClock* w, std::vector<WakeReason>* s) -> Task<void> {
      s->push_back(co_await w->sleep_until(RealClock::wall_now() + std::chrono::hours(1)));
    }(wt.get(), &seen));
  bool stepped = false;
  run([](RealClock* w, bool* stepped) -> Task<void> {
    co_await sleep_for(std::chrono::milliseconds(20));
    *stepped = step_clock_in_place();
    if (!*stepped) w->close();  // release the waiters so the loop can end
  }(wt.get(), &stepped));
  if (!stepped) GTEST_SKIP() << "clock_settime not permitted here";
  EXPECT_EQ(seen, std::vector<WakeReason>(3, WakeReason::clock_changed));
  wt->close();
}

}  // namespace
}  // namespace kairos::async

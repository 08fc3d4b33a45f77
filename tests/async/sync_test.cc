#include <vector>

#include "async/sync.h"
#include "async/timer.h"
#include "loop_fixture.h"

namespace kairos::async {
namespace {

using namespace std::chrono_literals;
using testing::LoopTest;
class SyncTest : public LoopTest {};

TEST_F(SyncTest, EventWakesAllWaiters) {
  Event ev;
  int woken = 0;
  for (int i = 0; i < 3; ++i)
    scope().spawn([](Event* e, int* w) -> Task<void> {
      if (co_await e->wait()) ++*w;
    }(&ev, &woken));
  run([](Event* e) -> Task<void> {
    co_await sleep_for(5ms);
    e->set();
  }(&ev));
  EXPECT_EQ(woken, 3);
}

TEST_F(SyncTest, EventWaitIsCancellable) {
  Event ev;
  CancelSource src;
  bool result = true;
  scope().spawn([](Event* e, CancelToken t, bool* r) -> Task<void> {
    *r = co_await e->wait(t);
  }(&ev, src.token(), &result));
  run([](CancelSource* s) -> Task<void> {
    co_await sleep_for(5ms);
    s->request();
  }(&src));
  EXPECT_FALSE(result);
}

Task<void> worker(Semaphore* sem, int id, std::vector<int>* order, int* inside, int* peak) {
  Permit p = co_await sem->acquire();
  order->push_back(id);
  ++*inside;
  if (*inside > *peak) *peak = *inside;
  co_await sleep_for(2ms);
  --*inside;
}

TEST_F(SyncTest, SemaphoreLimitsAndIsFifo) {
  auto owner = Semaphore::create(2);
  Semaphore& sem = *owner;
  std::vector<int> order;
  int inside = 0, peak = 0;
  for (int i = 0; i < 20; ++i) scope().spawn(worker(&sem, i, &order, &inside, &peak));
  run([]() -> Task<void> { co_return; }());
  EXPECT_EQ(peak, 2);
  ASSERT_EQ(order.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(order[i], i) << "FIFO order broken at " << i;
  EXPECT_EQ(sem.available(), 2u);
}

TEST_F(SyncTest, NewcomerCannotOvertakeAWaiter) {
  auto owner = Semaphore::create(1);
  Semaphore& sem = *owner;
  std::vector<int> order;
  auto holder = sem.try_acquire();
  ASSERT_TRUE(holder);
  int inside = 0, peak = 0;
  scope().spawn(worker(&sem, 1, &order, &inside, &peak));  // waits
  holder.release();  // slot handed to worker 1, not made available
  EXPECT_FALSE(sem.try_acquire());
  run([]() -> Task<void> { co_return; }());
  EXPECT_EQ(order, std::vector<int>{1});
}

TEST_F(SyncTest, CancelledWaiterLeavesTheQueueAndSlotsAreReturned) {
  auto owner = Semaphore::create(1);
  Semaphore& sem = *owner;
  CancelSource src;
  bool got = true;
  auto holder = sem.try_acquire();
  scope().spawn([](Semaphore* s, CancelToken t, bool* g) -> Task<void> {
    Permit p = co_await s->acquire(t);
    *g = static_cast<bool>(p);
  }(&sem, src.token(), &got));
  EXPECT_EQ(sem.waiting(), 1u);
  src.request();
  EXPECT_EQ(sem.waiting(), 0u);
  run([]() -> Task<void> { co_return; }());
  EXPECT_FALSE(got);
  holder.release();
  EXPECT_EQ(sem.available(), 1u);
}

TEST_F(SyncTest, PermitIsReturnedWhenTheTaskThrows) {
  auto owner = Semaphore::create(1);
  Semaphore& sem = *owner;
  scope().set_error_handler([](const std::string&) {});
  run([](Semaphore* s) -> Task<void> {
    Permit p = co_await s->acquire();
    throw std::runtime_error("job blew up");
  }(&sem));
  EXPECT_EQ(sem.available(), 1u);
}

TEST_F(SyncTest, ResizeGrantsWaiters) {
  auto owner = Semaphore::create(1);
  Semaphore& sem = *owner;
  std::vector<int> order;
  int inside = 0, peak = 0;
  for (int i = 0; i < 4; ++i) scope().spawn(worker(&sem, i, &order, &inside, &peak));
  sem.resize(4);
  run([]() -> Task<void> { co_return; }());
  EXPECT_EQ(peak, 4);
  EXPECT_EQ(sem.available(), 4u);
}

// A reload may drop a pool while one of its runs holds a slot: the permit must keep the
// semaphore alive (under ASan, the old raw pointer read freed memory here).
TEST_F(SyncTest, APermitOutlivesTheLastOtherOwnerOfItsSemaphore) {
  auto pool = Semaphore::create(1);
  Permit held = pool->try_acquire();
  ASSERT_TRUE(held);
  std::weak_ptr<Semaphore> watch = pool;
  pool.reset();  // the reload's erase
  EXPECT_FALSE(watch.expired());
  held.release();
  EXPECT_TRUE(watch.expired());
}

}  // namespace
}  // namespace kairos::async

#include "async/clock.h"

#include <time.h>

namespace kairos::async {

using std::chrono::nanoseconds;

bool Clock::Sleep::await_ready() {
  if (token_.requested()) {
    reason_ = WakeReason::cancelled;
    return true;
  }
  if (at <= clock_.now_of(base_)) {
    reason_ = WakeReason::reached;
    return true;
  }
  return false;
}

void Clock::Sleep::await_suspend(std::coroutine_handle<> h) {
  waiter_ = h;
  clock_.add(base_, this);
  // Cancellation and expiry race: whichever takes the entry out of its queue first wins.
  cancel_.arm(token_, [this] {
    if (!queued) return;
    clock_.remove(base_, this);
    expire(WakeReason::cancelled);
  });
}

void Clock::Sleep::expire(WakeReason why) {
  reason_ = why;
  clock_.loop_.schedule(waiter_);
}

Clock::Alarm::Alarm(Clock& c, nanoseconds d, std::function<void()> fn)
    : clock_(c), fn_(std::move(fn)) {
  at = clock_.now_of(Base::mono) + d;
  clock_.add(Base::mono, this);
}

void Clock::Alarm::expire(WakeReason why) {
  if (why == WakeReason::reached && fn_) fn_();
}

std::unique_ptr<RealClock> RealClock::create(Loop& loop, std::string* error) {
  auto wall = WallTimer::create(loop, error);
  if (!wall) return nullptr;
  return std::unique_ptr<RealClock>(new RealClock(loop, std::move(wall)));
}

RealClock::RealClock(Loop& loop, std::unique_ptr<WallTimer> wall)
    : Clock(loop), wall_(std::move(wall)) {
  must(mono_timer_.init(uv_timer_init, loop.uv()), "uv_timer_init");
  mono_timer_.get()->data = this;
}

RealClock::~RealClock() { close(); }

void RealClock::close() {
  if (closed_) return;
  closed_ = true;
  mono_.expire_all(WakeReason::cancelled);
  mono_timer_.close();
  wall_->close();
}

nanoseconds RealClock::now_of(Base b) const {
  timespec ts{};
  ::clock_gettime(b == Base::wall ? CLOCK_REALTIME : CLOCK_MONOTONIC, &ts);
  return std::chrono::seconds(ts.tv_sec) + nanoseconds(ts.tv_nsec);
}

void RealClock::add(Base b, Deadline* d) {
  if (b == Base::wall) return wall_->add(d);
  bool earliest = mono_.empty() || d->at < mono_.earliest()->at;
  mono_.insert(d);
  if (earliest) rearm_mono();
}

void RealClock::remove(Base b, Deadline* d) {
  if (b == Base::wall) return wall_->remove(d);
  // A timer left armed for a removed deadline costs one spurious wake-up at most.
  if (mono_.erase(d) && mono_.empty() && mono_timer_.get()) uv_timer_stop(mono_timer_.get());
}

void RealClock::on_mono_timer() {
  mono_.expire_until(now_of(Base::mono), WakeReason::reached);
  rearm_mono();
}

void RealClock::rearm_mono() {
  if (closed_ || !mono_timer_.get()) return;
  if (mono_.empty()) {
    uv_timer_stop(mono_timer_.get());
    return;
  }
  // libuv timers count whole milliseconds from the loop's cached time: round up, so the
  // timer never fires before the deadline (it re-arms if the cache made it early).
  auto left = mono_.earliest()->at - now_of(Base::mono);
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(std::max(left, nanoseconds(0)));
  uv_update_time(loop().uv());
  uv_timer_start(
      mono_timer_.get(),
      [](uv_timer_t* t) {
        if (t->data) static_cast<RealClock*>(t->data)->on_mono_timer();
      },
      static_cast<std::uint64_t>(ms.count()), 0);
}

}  // namespace kairos::async

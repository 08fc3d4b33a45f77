#include "fake_clock.h"

#include <stdexcept>

namespace kairos::fakes {

using std::chrono::nanoseconds;

FakeClock::FakeClock(async::Loop& loop, TimePoint wall, nanoseconds mono)
    : Clock(loop), wall_(wall.time_since_epoch()), mono_(mono) {}

FakeClock::~FakeClock() { close(); }

void FakeClock::close() {
  if (closed_) return;
  closed_ = true;
  wall_q_.expire_all(async::WakeReason::cancelled);
  mono_q_.expire_all(async::WakeReason::cancelled);
}

nanoseconds FakeClock::now_of(Base b) const { return b == Base::wall ? wall_ : mono_; }

void FakeClock::add(Base b, async::Deadline* d) {
  if (closed_) {
    // As a closed RealClock: nothing would ever wake it, so it is cancelled at once.
    d->expire(async::WakeReason::cancelled);
    return;
  }
  queue(b).insert(d);
}

void FakeClock::remove(Base b, async::Deadline* d) { queue(b).erase(d); }

std::optional<FakeClock::TimePoint> FakeClock::next_wall_deadline() const {
  if (auto* d = wall_q_.earliest()) return TimePoint(d->at);
  return std::nullopt;
}

void FakeClock::settle() {
  if (settle_) settle_();
  else loop().drain();
}

void FakeClock::advance(nanoseconds d) {
  if (d < nanoseconds(0)) throw std::logic_error("FakeClock::advance: negative duration");
  const nanoseconds end = mono_ + d;
  settle();  // what is ready now (a child the test just ended) runs before time moves
  for (;;) {
    // The next deadline on the monotonic time line; a wall deadline is due when the wall
    // clock, moving with the monotonic one, reaches it. On a tie the wall one goes first.
    async::Deadline* next = nullptr;
    Base base = Base::mono;
    nanoseconds when = nanoseconds::max();
    if (auto* m = mono_q_.earliest()) next = m, when = m->at;
    if (auto* w = wall_q_.earliest()) {
      nanoseconds at = mono_ + (w->at - wall_);
      if (!next || at <= when) next = w, when = at, base = Base::wall;
    }
    if (!next || when > end) break;
    if (when > mono_) {
      wall_ += when - mono_;
      mono_ = when;
    }
    queue(base).erase(next);
    next->expire(async::WakeReason::reached);
    settle();
  }
  wall_ += end - mono_;
  mono_ = end;
  settle();
}

void FakeClock::set_wall(TimePoint t) {
  wall_ = t.time_since_epoch();
  wall_q_.expire_all(async::WakeReason::clock_changed);
  settle();
  advance(nanoseconds(0));  // whatever re-planned onto an instant already past
}

}  // namespace kairos::fakes

// FakeClock: a Clock whose wall and monotonic time move only when the test says so.
//
// advance(d) moves both clocks forward, expiring each deadline it passes at its own instant,
// earliest first (wall and monotonic ones interleaved), and lets the loop run what became
// ready after each one: a resumed coroutine may add an earlier deadline than the next one
// queued, and that must fire first. set_wall() steps the wall clock alone, like an NTP step
// or `date -s`, and wakes every wall sleeper with clock_changed, as the real timerfd does.
#pragma once

#include <chrono>
#include <functional>
#include <optional>

#include "async/clock.h"
#include "async/deadline.h"

namespace kairos::fakes {

class FakeClock final : public async::Clock {
 public:
  /// Starts at wall time `wall`; the monotonic clock starts at `mono` (any origin).
  FakeClock(async::Loop& loop, TimePoint wall,
            std::chrono::nanoseconds mono = std::chrono::hours(1));
  ~FakeClock() override;

  /// Runs the loop until nothing is ready (no time passes in it). Called after every
  /// expiry; the default only drains the loop's ready queue.
  void set_settle(std::function<void()> settle) { settle_ = std::move(settle); }

  /// Settles, then moves both clocks forward by `d`, expiring due deadlines one at a time,
  /// in order, and settling after each. advance(0) expires only what is due now.
  void advance(std::chrono::nanoseconds d);
  /// advance() to wall instant `t` (which must not be in the past).
  void advance_to(TimePoint t) { advance(t - now()); }
  /// Steps the wall clock alone to `t` (back or forward): every wall sleeper wakes with
  /// clock_changed and re-plans; then settles.
  void set_wall(TimePoint t);

  /// Wakes every sleeper with `cancelled` (shutdown, as RealClock::close()).
  void close();

  std::chrono::nanoseconds mono_now() const { return mono_; }
  std::size_t wall_sleepers() const { return wall_q_.size(); }
  std::size_t mono_deadlines() const { return mono_q_.size(); }
  /// The earliest wall deadline queued, if any.
  std::optional<TimePoint> next_wall_deadline() const;

 protected:
  std::chrono::nanoseconds now_of(Base b) const override;
  void add(Base b, async::Deadline* d) override;
  void remove(Base b, async::Deadline* d) override;

 private:
  async::DeadlineQueue& queue(Base b) { return b == Base::wall ? wall_q_ : mono_q_; }
  void settle();

  std::chrono::nanoseconds wall_;
  std::chrono::nanoseconds mono_;
  async::DeadlineQueue wall_q_, mono_q_;
  std::function<void()> settle_;
  bool closed_ = false;
};

}  // namespace kairos::fakes

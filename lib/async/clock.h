// Clock: the one seam between the daemon and time. It says what time it is (wall clock,
// Unix epoch) and wakes coroutines at wall-clock instants (schedule deadlines, which follow
// clock steps) or after monotonic delays (retry backoff, per-attempt timeouts, kill grace,
// which do not). RealClock serves them with WallTimer's timerfd and one libuv timer; tests
// use a fake that they advance by hand (tests/support/fake_clock.h), so every decision that
// depends on time runs without waiting for it.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "async/cancel.h"
#include "async/deadline.h"
#include "async/handle.h"
#include "async/loop.h"
#include "async/wall_timer.h"

namespace kairos::async {

class Clock {
 public:
  using TimePoint = std::chrono::sys_time<std::chrono::nanoseconds>;
  /// Which time a deadline is measured in.
  enum class Base { wall, mono };

  explicit Clock(Loop& loop) : loop_(loop) {}
  virtual ~Clock() = default;
  Clock(const Clock&) = delete;
  Clock& operator=(const Clock&) = delete;

  /// Wall-clock time now.
  TimePoint now() const { return TimePoint(now_of(Base::wall)); }
  /// Wall-clock time now in Unix milliseconds (the history's unit).
  std::int64_t now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(now_of(Base::wall)).count();
  }

  /// Awaiter of sleep_until / sleep_for: reached, clock_changed (wall sleeps only: the wall
  /// clock was set, re-plan) or cancelled.
  class Sleep : Deadline {
   public:
    Sleep(Clock& c, Base b, std::chrono::nanoseconds at, CancelToken t)
        : clock_(c), base_(b), token_(std::move(t)) {
      this->at = at;
    }
    Sleep(const Sleep&) = delete;
    Sleep& operator=(const Sleep&) = delete;
    ~Sleep() { clock_.remove(base_, this); }
    bool await_ready();
    void await_suspend(std::coroutine_handle<> h);
    WakeReason await_resume() {
      cancel_.reset();
      return reason_;
    }

   private:
    void expire(WakeReason why) override;
    Clock& clock_;
    Base base_;
    CancelToken token_;
    CancelRegistration cancel_;
    std::coroutine_handle<> waiter_;
    WakeReason reason_ = WakeReason::reached;
  };

  /// Wakes at wall-clock instant `at`.
  Sleep sleep_until(TimePoint at, CancelToken token = {}) {
    return Sleep(*this, Base::wall, at.time_since_epoch(), std::move(token));
  }
  /// Wakes when `d` has passed on the monotonic clock.
  Sleep sleep_for(std::chrono::nanoseconds d, CancelToken token = {}) {
    return Sleep(*this, Base::mono, now_of(Base::mono) + d, std::move(token));
  }

  /// Calls `fn` once, from the loop, when `d` has passed on the monotonic clock, unless the
  /// Alarm is destroyed first. `fn` must not destroy the Alarm.
  class Alarm : Deadline {
   public:
    Alarm(Clock& c, std::chrono::nanoseconds d, std::function<void()> fn);
    ~Alarm() { clock_.remove(Base::mono, this); }

   private:
    void expire(WakeReason why) override;
    Clock& clock_;
    std::function<void()> fn_;
  };
  std::unique_ptr<Alarm> alarm_after(std::chrono::nanoseconds d, std::function<void()> fn) {
    return std::make_unique<Alarm>(*this, d, std::move(fn));
  }

  Loop& loop() const { return loop_; }

 protected:
  /// Now, in nanoseconds since the base's epoch (Unix epoch for wall).
  virtual std::chrono::nanoseconds now_of(Base b) const = 0;
  /// Queues `d`; expire() is called at its instant (or with clock_changed for wall ones).
  virtual void add(Base b, Deadline* d) = 0;
  /// Takes `d` out if queued, without calling expire().
  virtual void remove(Base b, Deadline* d) = 0;

 private:
  Loop& loop_;
};

/// The real clock: wall deadlines on WallTimer's timerfd (nanosecond precision, notified of
/// clock steps), monotonic ones on a libuv timer.
class RealClock final : public Clock {
 public:
  /// nullptr + *error when the timerfd cannot be created.
  static std::unique_ptr<RealClock> create(Loop& loop, std::string* error);
  ~RealClock() override;
  /// The wall clock as the timerfd reads it, without an instance.
  static TimePoint wall_now() { return WallTimer::now(); }
  /// Wakes every sleeper with `cancelled` and closes the handles (shutdown).
  void close();
  const WallTimer& wall_timer() const { return *wall_; }

 protected:
  std::chrono::nanoseconds now_of(Base b) const override;
  void add(Base b, Deadline* d) override;
  void remove(Base b, Deadline* d) override;

 private:
  RealClock(Loop& loop, std::unique_ptr<WallTimer> wall);
  void on_mono_timer();
  void rearm_mono();
  std::unique_ptr<WallTimer> wall_;
  DeadlineQueue mono_;
  UvHandle<uv_timer_t> mono_timer_;
  bool closed_ = false;
};

}  // namespace kairos::async

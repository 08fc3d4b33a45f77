// WallTimer: the queue of wall-clock deadlines behind RealClock::sleep_until (clock.h).
//
// One timerfd (CLOCK_REALTIME, absolute, TFD_TIMER_CANCEL_ON_SET) watched by the loop
// serves every deadline: the earliest one arms it. This gives nanosecond-resolution
// wake-ups (libuv timers are millisecond-granular), no wake-ups at all while idle, and
// a notification when the wall clock is stepped (NTP step, `date -s`, resume from
// suspend), on which every waiter is woken with clock_changed so it re-plans.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "async/deadline.h"
#include "async/handle.h"
#include "async/loop.h"

namespace kairos::async {

class WallTimer {
 public:
  using TimePoint = std::chrono::sys_time<std::chrono::nanoseconds>;

  /// nullptr + *error when the timerfd cannot be created.
  static std::unique_ptr<WallTimer> create(Loop& loop, std::string* error);
  ~WallTimer();
  WallTimer(const WallTimer&) = delete;
  WallTimer& operator=(const WallTimer&) = delete;

  /// Queues `d` (not queued yet); its expire() is called at its instant, with clock_changed
  /// when the wall clock is set, or with cancelled when the timer closes.
  void add(Deadline* d);
  /// Takes `d` out if it is queued; its expire() is not called.
  void remove(Deadline* d);

  std::size_t waiting() const { return queue_.size(); }
  /// Current wall time, the same clock the timerfd uses.
  static TimePoint now();
  /// Number of timerfd wake-ups so far (for tests of "no polling").
  std::uint64_t wakeups() const { return wakeups_; }
  void close();

 private:
  explicit WallTimer(int fd);
  void start();
  void on_readable();
  void rearm();

  int fd_;
  UvHandle<uv_poll_t> poll_;
  DeadlineQueue queue_;
  std::uint64_t wakeups_ = 0;
  TimePoint armed_{TimePoint::max()};
  bool referenced_ = false;
};

}  // namespace kairos::async

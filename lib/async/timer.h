// Sleeping on libuv timers (monotonic clock, millisecond resolution). Used for
// backoff, kill grace and timeouts; calendar deadlines use WallTimer (wall_timer.h).
#pragma once

#include <chrono>
#include <coroutine>

#include "async/cancel.h"
#include "async/handle.h"
#include "async/loop.h"

namespace kairos::async {

/// co_await sleep_for(d, token) → true when the time elapsed, false when cancelled.
class SleepAwaiter {
 public:
  SleepAwaiter(Loop& loop, std::chrono::milliseconds d, CancelToken token)
      : loop_(loop), delay_(d), token_(std::move(token)) {}
  SleepAwaiter(const SleepAwaiter&) = delete;
  SleepAwaiter& operator=(const SleepAwaiter&) = delete;

  bool await_ready() const noexcept { return token_.requested(); }
  void await_suspend(std::coroutine_handle<> h);
  bool await_resume() {
    timer_.close();
    cancel_.reset();
    return elapsed_ && !token_cancelled_;
  }

 private:
  void finish(bool elapsed);
  Loop& loop_;
  std::chrono::milliseconds delay_;
  CancelToken token_;
  UvHandle<uv_timer_t> timer_;
  CancelRegistration cancel_;
  std::coroutine_handle<> waiter_;
  bool done_ = false;
  bool elapsed_ = false;
  bool token_cancelled_ = false;
};

inline SleepAwaiter sleep_for(std::chrono::milliseconds d, CancelToken token = {}) {
  return SleepAwaiter(Loop::current(), d, std::move(token));
}

inline SleepAwaiter sleep_until(std::chrono::steady_clock::time_point tp,
                                CancelToken token = {}) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(tp - std::chrono::steady_clock::now());
  if (left.count() < 0) left = std::chrono::milliseconds(0);
  return SleepAwaiter(Loop::current(), left, std::move(token));
}

}  // namespace kairos::async

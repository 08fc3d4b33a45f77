// The event loop: a uv_loop_t plus a ready queue. libuv callbacks never resume a
// coroutine directly; they schedule() it, and the queue is drained after the callback
// has returned (uv_idle while work is pending, and uv_check after each poll). So a
// resumed coroutine can never destroy the object whose callback is still on the stack.
#pragma once

#include <uv.h>

#include <coroutine>
#include <cstdint>
#include <functional>
#include <vector>

#include "async/handle.h"

namespace kairos::async {

class Loop {
 public:
  /// Wraps an existing loop (tests use uv_default_loop or their own).
  explicit Loop(uv_loop_t* loop);
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  uv_loop_t* uv() const { return loop_; }

  /// Queues a coroutine to be resumed from the loop, after the current callback.
  void schedule(std::coroutine_handle<> h);
  /// Makes sure a drain happens soon even when nothing is queued (wakes the loop).
  void request_drain();
  /// Called after every drain of the ready queue (hands batched writes to the history
  /// writer). One hook; an empty function removes it (History::close() does).
  void set_drained_hook(std::function<void()> hook) { drained_hook_ = std::move(hook); }

  /// Runs until no handle is active. Returns uv_run's result.
  int run();
  /// Resumes everything queued now (also called internally).
  void drain();

  /// Closes the loop's own handles; after this, run() finishes once the rest is closed.
  void close();

  /// The loop this thread is running (set in the constructor; one loop per thread).
  static Loop& current();

 private:
  uv_loop_t* loop_;
  UvHandle<uv_idle_t> idle_;
  UvHandle<uv_check_t> check_;
  std::vector<std::coroutine_handle<>> ready_;
  std::vector<std::coroutine_handle<>> running_;
  std::function<void()> drained_hook_;
  bool idle_active_ = false;
  bool draining_ = false;
  bool closed_ = false;
};

}  // namespace kairos::async

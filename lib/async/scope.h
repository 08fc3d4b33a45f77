// AsyncScope: where detached tasks live. spawn() starts a Task<void> that nobody
// awaits; join() completes when every spawned task has finished. main joins the
// scope before tearing the loop down, so nothing is fire-and-forget.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "async/sync.h"
#include "async/task.h"

namespace kairos::async {

class AsyncScope {
 public:
  AsyncScope() { idle_.set(); }
  /// A scope must be joined before it goes: a task still suspended would resume into
  /// freed objects later. Destroying one with tasks left is a bug, and aborts.
  ~AsyncScope();
  AsyncScope(const AsyncScope&) = delete;
  AsyncScope& operator=(const AsyncScope&) = delete;

  /// Starts `task` now (it runs until its first suspension before spawn returns).
  /// An exception escaping the task is passed to the error handler (default: log to
  /// stderr); it never propagates into the loop.
  void spawn(Task<void> task);
  std::size_t active() const { return active_; }
  /// Completes when no spawned task is running.
  Event::Awaiter join(CancelToken token = {}) { return idle_.wait(std::move(token)); }

  void set_error_handler(std::function<void(const std::string&)> h) { on_error_ = std::move(h); }

 private:
  struct Detached;
  static Detached run(AsyncScope* self, Task<void> task);
  void finished();
  std::size_t active_ = 0;
  Event idle_;
  std::function<void(const std::string&)> on_error_;
};

}  // namespace kairos::async

#include "async/scope.h"

#include <cstdio>
#include <cstdlib>
#include <exception>

namespace kairos::async {

// A coroutine that starts eagerly and frees itself at the end.
struct AsyncScope::Detached {
  struct promise_type {
    Detached get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { std::terminate(); }  // run() catches all
  };
};

void AsyncScope::spawn(Task<void> task) {
  if (active_++ == 0) idle_.reset();
  run(this, std::move(task));
}

AsyncScope::Detached AsyncScope::run(AsyncScope* self, Task<void> task) {
  try {
    co_await task;
  } catch (const std::exception& e) {
    if (self->on_error_) self->on_error_(e.what());
    else std::fprintf(stderr, "kairos: detached task failed: %s\n", e.what());
  } catch (...) {
    if (self->on_error_) self->on_error_("unknown exception");
    else std::fprintf(stderr, "kairos: detached task failed with an unknown exception\n");
  }
  self->finished();
}

AsyncScope::~AsyncScope() {
  if (active_ == 0) return;
  std::fprintf(stderr, "kairos: AsyncScope destroyed with %zu task(s) still suspended\n", active_);
  std::abort();
}

void AsyncScope::finished() {
  if (--active_ == 0) idle_.set();
}

}  // namespace kairos::async

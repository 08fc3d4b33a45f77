// offload(loop, fn): runs `fn` on libuv's thread pool and resumes the caller on the loop with
// its result, so slow work (reading and validating a configuration) never blocks the loop.
// `fn` must not touch loop-thread state; an exception it throws is rethrown at co_await.
#pragma once

#include <coroutine>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

#include "async/loop.h"

namespace kairos::async {

template <class T>
class Offload {
 public:
  Offload(Loop& loop, std::function<T()> fn) : loop_(loop), fn_(std::move(fn)) {
    req_.data = this;
  }
  Offload(const Offload&) = delete;
  Offload& operator=(const Offload&) = delete;

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    waiter_ = h;
    int rc = uv_queue_work(
        loop_.uv(), &req_,
        [](uv_work_t* w) {
          auto* self = static_cast<Offload*>(w->data);
          try {
            self->value_.emplace(self->fn_());
          } catch (...) {
            self->error_ = std::current_exception();
          }
        },
        [](uv_work_t* w, int) {
          auto* self = static_cast<Offload*>(w->data);
          self->loop_.schedule(self->waiter_);
        });
    if (rc != 0) {
      // No thread pool: do it here rather than not at all.
      try {
        value_.emplace(fn_());
      } catch (...) {
        error_ = std::current_exception();
      }
      return false;
    }
    return true;
  }
  T await_resume() {
    if (error_) std::rethrow_exception(error_);
    return std::move(*value_);
  }

 private:
  Loop& loop_;
  std::function<T()> fn_;
  uv_work_t req_{};
  std::coroutine_handle<> waiter_;
  std::optional<T> value_;
  std::exception_ptr error_;
};

template <class Fn>
auto offload(Loop& loop, Fn fn) {
  using T = decltype(fn());
  return Offload<T>(loop, std::function<T()>(std::move(fn)));
}

}  // namespace kairos::async

// with_timeout: the operation and a timer race. If the timer wins, the operation's
// token is cancelled and the operation is still awaited to the end (it must honour the
// token and clean up); if the operation wins, the timer is disarmed. Either way
// exactly one outcome is reported and nothing is left running.
#pragma once

#include <chrono>
#include <utility>

#include "async/cancel.h"
#include "async/handle.h"
#include "async/loop.h"
#include "async/task.h"

namespace kairos::async {

template <typename T>
struct Timed {
  T value;
  bool timed_out = false;
};

namespace detail {
struct TimeoutArm {
  CancelSource* source = nullptr;
  bool fired = false;
};
}  // namespace detail

/// make(CancelToken) -> Task<T>. limit <= 0 means no timeout. The token handed to the
/// operation is also cancelled when `parent` is.
template <typename T, typename Make>
Task<Timed<T>> with_timeout(std::chrono::milliseconds limit, CancelToken parent, Make make) {
  CancelSource source(parent);
  detail::TimeoutArm arm{&source, false};
  UvHandle<uv_timer_t> timer;
  if (limit.count() > 0) {
    must(timer.init(uv_timer_init, Loop::current().uv()), "uv_timer_init");
    timer.get()->data = &arm;
    uv_timer_start(
        timer.get(),
        [](uv_timer_t* t) {
          auto* a = static_cast<detail::TimeoutArm*>(t->data);
          if (!a) return;
          a->fired = true;
          a->source->request();
        },
        static_cast<uint64_t>(limit.count()), 0);
  }
  T value = co_await make(source.token());
  // The operation finished: disarm the timer before anything else can observe it.
  if (timer.get()) {
    timer.get()->data = nullptr;
    uv_timer_stop(timer.get());
  }
  co_return Timed<T>{std::move(value), arm.fired};
}

}  // namespace kairos::async

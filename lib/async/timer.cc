#include "async/timer.h"

namespace kairos::async {

void SleepAwaiter::await_suspend(std::coroutine_handle<> h) {
  waiter_ = h;
  must(timer_.init(uv_timer_init, loop_.uv()), "uv_timer_init");
  timer_.get()->data = this;
  uv_timer_start(
      timer_.get(),
      [](uv_timer_t* t) {
        if (t->data) static_cast<SleepAwaiter*>(t->data)->finish(true);
      },
      static_cast<uint64_t>(delay_.count()), 0);
  // Registered after the timer is armed: if the token is already cancelled the
  // callback runs right here and disarms the timer before anyone resumes.
  cancel_.arm(token_, [this] { finish(false); });
}

void SleepAwaiter::finish(bool elapsed) {
  // Exactly one of timer expiry and cancellation wins; the other is disarmed here.
  if (done_) return;
  done_ = true;
  elapsed_ = elapsed;
  token_cancelled_ = !elapsed;
  if (timer_.get()) {
    timer_.get()->data = nullptr;
    uv_timer_stop(timer_.get());
  }
  loop_.schedule(waiter_);
}

}  // namespace kairos::async

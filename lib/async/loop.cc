#include "async/loop.h"

#include <cassert>
#include <stdexcept>

namespace kairos::async {

namespace {
thread_local Loop* t_current = nullptr;
}

Loop::Loop(uv_loop_t* loop) : loop_(loop) {
  must(idle_.init(uv_idle_init, loop_), "uv_idle_init");
  idle_.get()->data = this;
  must(check_.init(uv_check_init, loop_), "uv_check_init");
  check_.get()->data = this;
  // The check handle drains work made ready by I/O callbacks in the same iteration.
  // It is unref'd so an otherwise idle loop can still end.
  uv_check_start(check_.get(), [](uv_check_t* h) {
    if (h->data) static_cast<Loop*>(h->data)->drain();
  });
  uv_unref(check_.base());
  t_current = this;
}

Loop::~Loop() {
  close();
  if (t_current == this) t_current = nullptr;
}

Loop& Loop::current() {
  if (!t_current) throw std::logic_error("no kairos::async::Loop on this thread");
  return *t_current;
}

void Loop::close() {
  if (closed_) return;
  closed_ = true;
  idle_.close();
  check_.close();
}

void Loop::schedule(std::coroutine_handle<> h) {
  ready_.push_back(h);
  request_drain();
}

void Loop::request_drain() {
  if (idle_active_ || closed_) return;
  // An active idle handle keeps the loop alive and makes the next poll non-blocking,
  // so queued work runs at once even when no I/O is pending.
  idle_active_ = true;
  uv_idle_start(idle_.get(), [](uv_idle_t* h) {
    if (h->data) static_cast<Loop*>(h->data)->drain();
  });
}

void Loop::drain() {
  if (draining_) return;  // a resumed coroutine's schedule() lands in ready_ and is seen below
  draining_ = true;
  do {
    while (!ready_.empty()) {
      running_.swap(ready_);
      for (auto h : running_) h.resume();
      running_.clear();
    }
    if (drained_hook_) drained_hook_();
  } while (!ready_.empty());
  draining_ = false;
  if (idle_active_ && !closed_) {
    idle_active_ = false;
    uv_idle_stop(idle_.get());
  }
}

int Loop::run() {
  drain();
  return uv_run(loop_, UV_RUN_DEFAULT);
}

}  // namespace kairos::async

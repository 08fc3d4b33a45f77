#include "async/wall_timer.h"

#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace kairos::async {

std::unique_ptr<WallTimer> WallTimer::create(Loop& loop, std::string* error) {
  int fd = ::timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) {
    if (error) *error = std::string("timerfd_create: ") + std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<WallTimer> w(new WallTimer(fd));
  if (int rc = w->poll_.init(uv_poll_init, loop.uv(), fd); rc != 0) {
    if (error) *error = std::string("timerfd poll: ") + uv_strerror(rc);
    return nullptr;  // the destructor closes the fd
  }
  w->start();
  return w;
}

WallTimer::WallTimer(int fd) : fd_(fd) {}

void WallTimer::start() {
  poll_.get()->data = this;
  uv_poll_start(poll_.get(), UV_READABLE, [](uv_poll_t* p, int, int) {
    if (p->data) static_cast<WallTimer*>(p->data)->on_readable();
  });
  uv_unref(poll_.base());  // only waiters keep the loop alive (see rearm)
}

WallTimer::~WallTimer() { close(); }

void WallTimer::close() {
  if (fd_ < 0) return;
  // Wake everyone still waiting so no coroutine hangs on a dead timer.
  queue_.expire_all(WakeReason::cancelled);
  poll_.close();
  ::close(fd_);
  fd_ = -1;
}

WallTimer::TimePoint WallTimer::now() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return TimePoint(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
}

void WallTimer::add(Deadline* d) {
  queue_.insert(d);
  if (TimePoint(d->at) < armed_) rearm();
}

void WallTimer::remove(Deadline* d) {
  // The timerfd may stay armed for an earlier deadline: that costs at most one
  // spurious wake-up, after which rearm() picks the real earliest.
  if (queue_.erase(d) && queue_.empty()) rearm();
}

void WallTimer::on_readable() {
  ++wakeups_;
  std::uint64_t expirations = 0;
  ssize_t n = ::read(fd_, &expirations, sizeof expirations);
  if (n < 0 && errno == ECANCELED) {
    // The wall clock was set: every deadline must be re-planned by its owner.
    armed_ = TimePoint::max();
    queue_.expire_all(WakeReason::clock_changed);
    rearm();
    return;
  }
  armed_ = TimePoint::max();
  queue_.expire_until(now().time_since_epoch(), WakeReason::reached);
  rearm();
}

void WallTimer::rearm() {
  if (fd_ < 0) return;
  if (queue_.empty()) {
    if (referenced_) {
      uv_unref(poll_.base());
      referenced_ = false;
    }
    // Stay armed for a far deadline anyway? No: with nothing to wait for, a clock
    // change needs no re-planning. Disarm.
    itimerspec off{};
    ::timerfd_settime(fd_, 0, &off, nullptr);
    armed_ = TimePoint::max();
    return;
  }
  if (!referenced_) {
    uv_ref(poll_.base());
    referenced_ = true;
  }
  TimePoint at(queue_.earliest()->at);
  if (at == armed_) return;
  auto since = at.time_since_epoch();
  if (since.count() <= 0) since = std::chrono::nanoseconds(1);
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(since.count() / 1000000000);
  spec.it_value.tv_nsec = static_cast<long>(since.count() % 1000000000);
  if (::timerfd_settime(fd_, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &spec, nullptr) != 0 &&
      errno == ECANCELED) {
    // A clock change raced with arming: report it now.
    armed_ = TimePoint::max();
    queue_.expire_all(WakeReason::clock_changed);
    return;
  }
  armed_ = at;
}

}  // namespace kairos::async

#include "daemon/notify.h"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstdlib>

#include <spdlog/spdlog.h>

namespace kairos::daemon {

Notifier::Notifier(async::Loop& loop) : loop_(loop) {}

void Notifier::send(const std::string& msg) {
  int rc = ::sd_notify(0, msg.c_str());
  if (rc < 0) spdlog::debug("sd_notify failed: {}", rc);
}

void Notifier::ready(const std::string& s) { send("READY=1\nSTATUS=" + s); }

void Notifier::reloading() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  auto usec = static_cast<long long>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void Notifier::stopping(const std::string& s) { send("STOPPING=1\nSTATUS=" + s); }

void Notifier::status(const std::string& s) { send("STATUS=" + s); }

void Notifier::start_watchdog() {
  uint64_t usec = 0;
  // sd_watchdog_enabled() looks at WATCHDOG_USEC alone; without NOTIFY_SOCKET every ping
  // would be a no-op wakeup (a stray WATCHDOG_USEC in a terminal or a job's environment).
  if (::getenv("NOTIFY_SOCKET") == nullptr) return;
  if (::sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
  uv_timer_init(loop_.uv(), watchdog_.get());
  watchdog_.mark_initialized();
  watchdog_.get()->data = this;
  uint64_t period_ms = std::max<uint64_t>(1, usec / 2000);
  uv_timer_start(
      watchdog_.get(),
      [](uv_timer_t* t) {
        if (t->data) static_cast<Notifier*>(t->data)->send("WATCHDOG=1");
      },
      period_ms, period_ms);
  // The pings must not keep the loop alive on their own during shutdown.
  uv_unref(watchdog_.base());
  send("WATCHDOG=1");
  spdlog::info("systemd watchdog: ping every {}ms", period_ms);
}

void Notifier::close() { watchdog_.close(); }

}  // namespace kairos::daemon

// systemd integration (sd_notify): READY/RELOADING/STOPPING/STATUS and the watchdog.
// Without NOTIFY_SOCKET every call is a no-op, so kairosd runs the same in a terminal.
#pragma once

#include <chrono>
#include <string>

#include "async/handle.h"
#include "async/loop.h"

namespace kairos::daemon {

class Notifier {
 public:
  explicit Notifier(async::Loop& loop);
  ~Notifier() { close(); }
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  void ready(const std::string& status);
  void reloading();
  void stopping(const std::string& status);
  void status(const std::string& status);
  /// Starts WATCHDOG=1 pings at half the interval systemd asked for (WATCHDOG_USEC);
  /// nothing when it asked for none, so an idle kairosd outside systemd never wakes.
  void start_watchdog();
  void close();

 private:
  void send(const std::string& msg);
  async::Loop& loop_;
  async::UvHandle<uv_timer_t> watchdog_;
};

}  // namespace kairos::daemon

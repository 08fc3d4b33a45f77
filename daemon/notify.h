// systemd integration: READY/RELOADING/STOPPING/STATUS and the watchdog.
// Without NOTIFY_SOCKET every call is a no-op, so kairosd runs the same in a terminal.
//
// kairosd speaks the notification protocol itself (a datagram to the socket NOTIFY_SOCKET
// names) instead of linking libsystemd. systemd documents the protocol, not its C wrapper, as
// the stable interface and advises exactly this for daemons that only need sd_notify
// (sd_notify(3), "Standalone Implementations"). Linking libsystemd maps it and the six
// libraries it needs (libgcrypt, liblzma, zstd, lz4, libcap, libgpg-error) into a daemon that
// runs as root: resident memory (docs/PERFORMANCE.md) and code nobody here calls. The tests check
// this implementation against libsystemd's (tests/daemon/notify_test.cc).
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "async/handle.h"
#include "async/loop.h"

namespace kairos::daemon {

/// Where notifications go: an AF_UNIX datagram address.
struct NotifyAddress {
  sockaddr_un addr{};
  socklen_t len = 0;
};

/// The address NOTIFY_SOCKET names: an absolute path, or "@name" for the abstract namespace.
/// nullopt when it is unset, empty, relative, too long or of a kind kairosd does not speak
/// (e.g. systemd 253's "vsock:" for virtual machines).
std::optional<NotifyAddress> parse_notify_socket(const char* value);

/// The watchdog interval systemd asks this process for: WATCHDOG_USEC, when WATCHDOG_PID is
/// unset or names `self`. 0 when there is none or either variable is malformed.
std::uint64_t watchdog_usec(const char* usec, const char* pid, pid_t self);

/// Sends one notification datagram; false (errno set) when it could not be sent.
bool send_notification(const NotifyAddress& to, std::string_view message);

class Notifier {
 public:
  /// Reads NOTIFY_SOCKET once; a daemon that was not started by systemd sends nothing.
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
  std::optional<NotifyAddress> to_;
  async::UvHandle<uv_timer_t> watchdog_;
};

}  // namespace kairos::daemon

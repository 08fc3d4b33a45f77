#include "daemon/notify.h"

#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>

namespace kairos::daemon {

namespace {

/// A whole decimal number and nothing else (no sign, no spaces), as systemd's safe_atou64
/// accepts for these variables.
template <typename T>
std::optional<T> parse_decimal(const char* s) {
  if (s == nullptr || *s < '0' || *s > '9') return std::nullopt;
  T v{};
  const char* end = s + std::strlen(s);
  auto [p, ec] = std::from_chars(s, end, v);
  if (ec != std::errc() || p != end) return std::nullopt;
  return v;
}

}  // namespace

std::optional<NotifyAddress> parse_notify_socket(const char* value) {
  if (value == nullptr || (value[0] != '/' && value[0] != '@')) return std::nullopt;
  std::size_t n = std::strlen(value);
  NotifyAddress a;
  a.addr.sun_family = AF_UNIX;
  // Like systemd, room for a terminating NUL is required of abstract names too.
  if (n < 2 || n + 1 > sizeof a.addr.sun_path) return std::nullopt;
  std::memcpy(a.addr.sun_path, value, n);
  // A path is NUL-terminated (the length counts the NUL, as systemd's does); an abstract
  // name starts with a NUL byte and is exactly as long as it is, without a terminator.
  if (value[0] == '@') {
    a.addr.sun_path[0] = '\0';
    a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n);
  } else {
    a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n + 1);
  }
  return a;
}

std::uint64_t watchdog_usec(const char* usec, const char* pid, pid_t self) {
  auto u = parse_decimal<std::uint64_t>(usec);
  // systemd's USEC_INFINITY (all bits set) means "no limit", which is no watchdog.
  if (!u || *u == 0 || *u == UINT64_MAX) return 0;
  if (pid != nullptr) {
    auto p = parse_decimal<pid_t>(pid);
    if (!p || *p <= 0 || *p != self) return 0;
  }
  return *u;
}

bool send_notification(const NotifyAddress& to, std::string_view message) {
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ssize_t n = ::sendto(fd, message.data(), message.size(), MSG_NOSIGNAL,
                       reinterpret_cast<const sockaddr*>(&to.addr), to.len);
  int saved = errno;
  ::close(fd);
  errno = saved;
  return n == static_cast<ssize_t>(message.size());
}

Notifier::Notifier(async::Loop& loop) : loop_(loop) {
  const char* v = std::getenv("NOTIFY_SOCKET");
  to_ = parse_notify_socket(v);
  if (v != nullptr && *v != '\0' && !to_)
    spdlog::warn("systemd: NOTIFY_SOCKET={} is not a socket kairosd can notify; not notifying",
                 v);
}

void Notifier::send(const std::string& msg) {
  if (!to_) return;
  if (!send_notification(*to_, msg)) spdlog::debug("sd_notify failed: {}", std::strerror(errno));
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
  // Without a socket to ping every ping would be a wake-up for nothing (a stray
  // WATCHDOG_USEC in a terminal or a job's environment).
  if (!to_) return;
  std::uint64_t usec =
      watchdog_usec(std::getenv("WATCHDOG_USEC"), std::getenv("WATCHDOG_PID"), ::getpid());
  if (usec == 0) return;
  async::must(watchdog_.init(uv_timer_init, loop_.uv()), "uv_timer_init");
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

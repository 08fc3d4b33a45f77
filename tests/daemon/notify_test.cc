// kairosd's own sd_notify against libsystemd's: the same environment must give the same
// watchdog decision, and the same message must reach the same socket byte for byte.
// libsystemd is linked into this test only, as the reference (daemon/notify.h says why
// kairosd itself does not link it).
#include "daemon/notify.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using kairos::daemon::NotifyAddress;
using kairos::daemon::parse_notify_socket;
using kairos::daemon::send_notification;
using kairos::daemon::watchdog_usec;

namespace {

/// Sets (or, for nullptr, unsets) an environment variable for one scope.
class EnvVar {
 public:
  EnvVar(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~EnvVar() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

/// A datagram socket standing in for systemd's notify socket, at a path or an abstract name.
class Receiver {
 public:
  explicit Receiver(const std::string& name) : name_(name) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    auto a = parse_notify_socket(name.c_str());
    if (!a || ::bind(fd_, reinterpret_cast<const sockaddr*>(&a->addr), a->len) != 0)
      throw std::runtime_error("cannot bind " + name);
  }
  ~Receiver() {
    ::close(fd_);
    if (name_[0] == '/') ::unlink(name_.c_str());
  }
  /// The next datagram, or nullopt after 2 s.
  std::optional<std::string> next() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 2000) != 1) return std::nullopt;
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }

 private:
  std::string name_;
  int fd_ = -1;
};

std::string socket_path(const char* leaf) {
  return (fs::temp_directory_path() / ("kairos-notify-" + std::to_string(::getpid()) + "-" + leaf))
      .string();
}

}  // namespace

TEST(Notify, WatchdogDecisionMatchesLibsystemd) {
  std::string self = std::to_string(::getpid());
  std::string other = std::to_string(::getpid() + 1);
  const char* usecs[] = {nullptr, "", "0", "1", "200000", "30000000", "18446744073709551615",
                         "18446744073709551616", "-5", "12x", "abc", "1.5"};
  const char* pids[] = {nullptr, self.c_str(), other.c_str(), "0", "-1", "x", ""};
  for (const char* u : usecs) {
    for (const char* p : pids) {
      EnvVar eu("WATCHDOG_USEC", u), ep("WATCHDOG_PID", p);
      uint64_t ref_usec = 0;
      int ref = ::sd_watchdog_enabled(0, &ref_usec);
      std::uint64_t ours = watchdog_usec(u, p, ::getpid());
      SCOPED_TRACE(std::string("WATCHDOG_USEC=") + (u ? u : "(unset)") +
                   " WATCHDOG_PID=" + (p ? p : "(unset)"));
      // libsystemd: > 0 enabled (usec set), 0 not for us / unset, < 0 malformed. kairosd
      // pings only in the first case, so both other answers are "no watchdog".
      EXPECT_EQ(ours, ref > 0 ? ref_usec : 0) << "libsystemd returned " << ref;
    }
  }
}

TEST(Notify, SocketAddressesMatchLibsystemd) {
  // What libsystemd refuses (< 0) kairosd must refuse too, and what it sends to, kairosd
  // must reach; the sending itself is checked below.
  struct Case {
    std::string value;
    bool valid;
  };
  std::vector<Case> cases = {
      {"", false},       {"@", false},          {"/", false},
      {"relative/sock", false}, {"vsock:2:1234", false},
      {"/" + std::string(106, 'a'), true},       // 107 bytes + NUL fill sun_path
      {"/" + std::string(107, 'a'), false},      // no room for the NUL
      {"@" + std::string(106, 'a'), true},       // abstract: systemd wants room for a NUL too
      {"@" + std::string(107, 'a'), false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE("NOTIFY_SOCKET=" + c.value);
    EXPECT_EQ(parse_notify_socket(c.value.c_str()).has_value(), c.valid);
    if (!c.valid && !c.value.empty()) {
      EnvVar e("NOTIFY_SOCKET", c.value.c_str());
      EXPECT_LT(::sd_notify(0, "STATUS=x"), 0) << "libsystemd accepts what kairosd refuses";
    }
  }
  EXPECT_FALSE(parse_notify_socket(nullptr).has_value());
}

TEST(Notify, SendsTheSameDatagramAsLibsystemdToAPathAndAnAbstractSocket) {
  std::string abstract_name = "@" + socket_path("abstract").substr(1);
  for (const std::string& name : {socket_path("path.sock"), abstract_name}) {
    SCOPED_TRACE(name);
    Receiver rx(name);
    EnvVar e("NOTIFY_SOCKET", name.c_str());
    for (const char* msg : {"READY=1\nSTATUS=3 jobs", "WATCHDOG=1", "STOPPING=1",
                            "RELOADING=1\nMONOTONIC_USEC=123456789"}) {
      ASSERT_GT(::sd_notify(0, msg), 0);
      auto ref = rx.next();
      ASSERT_TRUE(ref.has_value()) << "libsystemd's datagram did not arrive";
      auto to = parse_notify_socket(name.c_str());
      ASSERT_TRUE(to.has_value());
      ASSERT_TRUE(send_notification(*to, msg)) << std::strerror(errno);
      auto ours = rx.next();
      ASSERT_TRUE(ours.has_value()) << "kairosd's datagram did not arrive";
      EXPECT_EQ(*ours, *ref);
    }
  }
}

TEST(Notify, ASocketNobodyListensOnIsAFailureNotACrash) {
  auto to = parse_notify_socket(socket_path("nobody.sock").c_str());
  ASSERT_TRUE(to.has_value());
  errno = 0;
  EXPECT_FALSE(send_notification(*to, "READY=1"));
  EXPECT_NE(errno, 0);
}

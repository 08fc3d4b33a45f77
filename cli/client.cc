#include "cli/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "protocol/jsonrpc.h"

namespace kairos::cli {

namespace {
std::string unreachable_text(const std::string& path, const std::string& why) {
  return "cannot reach kairosd at " + path + ": " + why +
         " \xe2\x80\x94 is kairosd running? (set --socket or KAIROS_SOCKET)";
}
}  // namespace

std::optional<Client> Client::connect(const std::string& path, Unreachable* why) {
  sockaddr_un addr{};
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    why->message = unreachable_text(path, "invalid socket path");
    return std::nullopt;
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    why->message = unreachable_text(path, std::strerror(errno));
    return std::nullopt;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    ::close(fd);
    std::string text = std::strerror(err);
    if (err == EACCES) text += " (the socket is for root, kairosd's user and its socket_group)";
    why->message = unreachable_text(path, text);
    return std::nullopt;
  }
  return Client(fd, path);
}

Client::~Client() {
  if (fd_ >= 0) ::close(fd_);
}

Client::Outcome Client::call(std::string_view method, const nlohmann::json& params,
                             Unreachable* down, std::chrono::milliseconds timeout,
                             const std::function<void()>& tick) {
  auto lost = [&](const std::string& why) -> Outcome {
    down->message = "lost connection to kairosd at " + path_ + ": " + why;
    return protocol::Error{0, down->message, nullptr};
  };
  std::int64_t id = next_id_++;
  std::string line = protocol::encode_request(id, method, params);
  for (std::size_t off = 0; off < line.size();) {
    ssize_t n = ::send(fd_, line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // The server may have refused us and closed: prefer its explanation if any.
      break;
    }
    off += std::size_t(n);
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    while (true) {
      auto nl = buf_.find('\n');
      if (nl == std::string::npos) break;
      std::string reply = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      protocol::Response resp;
      std::string err;
      if (!protocol::decode_response(reply, &resp, &err)) return lost(err);
      if (resp.id.is_null() && !resp.ok()) {
        // An error not tied to our request: access denied or a framing error.
        auto e = std::get<protocol::Error>(resp.outcome);
        if (e.code == protocol::errc::access_denied) {
          down->message = "kairosd at " + path_ + " refused the connection: " + e.message;
          return protocol::Error{0, down->message, nullptr};
        }
        return e;
      }
      if (resp.id != nlohmann::json(id)) continue;  // not ours (cannot happen: one at a time)
      if (resp.ok()) return std::get<nlohmann::json>(resp.outcome);
      return std::get<protocol::Error>(resp.outcome);
    }
    int wait_ms = 100;
    if (timeout.count() > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        return lost("no answer within " + std::to_string(timeout.count() / 1000) + "s");
      wait_ms = int(std::min<std::int64_t>(left.count(), 100));
    }
    pollfd p{fd_, POLLIN, 0};
    int rc = ::poll(&p, 1, wait_ms);
    if (rc < 0 && errno != EINTR) return lost(std::strerror(errno));
    if (rc <= 0) {
      if (tick) tick();
      continue;
    }
    char chunk[65536];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return lost(std::strerror(errno));
    if (n == 0) return lost("connection closed");
    buf_.append(chunk, std::size_t(n));
    if (buf_.size() > 256 * 1024 * 1024) return lost("reply too large");
  }
}

}  // namespace kairos::cli

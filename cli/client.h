// kairosctl's side of the control socket: one blocking connection, one request at a
// time, JSON-RPC 2.0 lines (lib/protocol).
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "protocol/errors.h"

namespace kairos::cli {

/// Why a call produced no answer: the daemon is not there (or refused us, or went
/// away). kairosctl turns this into exit code 3.
struct Unreachable {
  std::string message;  // complete sentence for stderr
};

class Client {
 public:
  /// Connects; on failure returns nullopt and fills *why.
  static std::optional<Client> connect(const std::string& path, Unreachable* why);

  Client(Client&& o) noexcept
      : fd_(o.fd_), path_(std::move(o.path_)), buf_(std::move(o.buf_)), next_id_(o.next_id_) {
    o.fd_ = -1;
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  Client& operator=(Client&&) = delete;
  ~Client();

  /// The result, or the JSON-RPC error. A transport failure sets *down and returns an
  /// error with code 0. `tick` (if set) is called about every 100 ms while waiting,
  /// e.g. to show elapsed time; `timeout` zero waits forever.
  using Outcome = std::variant<nlohmann::json, protocol::Error>;
  Outcome call(std::string_view method, const nlohmann::json& params, Unreachable* down,
               std::chrono::milliseconds timeout = std::chrono::seconds(60),
               const std::function<void()>& tick = {});

 private:
  Client(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
  std::string buf_;
  std::int64_t next_id_ = 1;
};

}  // namespace kairos::cli

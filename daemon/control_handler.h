// The seam between the control server (socket, framing, access control) and the
// daemon's logic. The server decodes a JSON-RPC request and calls handle(); the
// daemon answers through `reply`, exactly once, possibly later (e.g. `run` with wait).
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

namespace kairos::daemon {

/// The connected client's credentials (SO_PEERCRED).
struct Peer {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

/// A JSON-RPC error object. Codes: -32700 parse, -32600 invalid request, -32601 method
/// not found, -32602 invalid params, -32603 internal; application errors use -32000..-32099
/// (see lib/protocol/errors.h).
struct RpcError {
  int code = -32603;
  std::string message;
  nlohmann::json data;  // null when absent
};

using RpcResult = std::variant<nlohmann::json, RpcError>;
using Reply = std::function<void(RpcResult)>;

class ControlHandler {
 public:
  virtual ~ControlHandler() = default;
  /// Must never throw; must call `reply` exactly once. When the client disconnected
  /// before the reply, calling `reply` is still safe (the server drops it).
  virtual void handle(const std::string& method, const nlohmann::json& params,
                      const Peer& peer, Reply reply) = 0;
};

}  // namespace kairos::daemon

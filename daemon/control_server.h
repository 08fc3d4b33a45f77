// The control socket of kairosd: a libuv Unix stream server that speaks
// newline-delimited JSON-RPC 2.0 (lib/protocol) and hands each valid request to a
// ControlHandler. It owns framing, limits and access control; the handler owns the
// meaning of the methods.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <cstddef>
#include <memory>
#include <string>

#include "daemon/control_handler.h"
#include "protocol/jsonrpc.h"

namespace kairos::daemon {

class ControlServer {
 public:
  struct Options {
    std::string path;
    /// Permission bits applied after bind (the socket is created 0600 first).
    unsigned mode = 0660;
    /// Group that owns the socket and whose members may connect. Empty, or a group
    /// that does not exist, makes an owner-only socket (mode & 0700).
    std::string group;
    int backlog = 128;
    std::size_t max_line = protocol::kMaxLineBytes;
    /// Unsent reply bytes above which a client's further requests are not read.
    std::size_t output_pause_bytes = 1024 * 1024;
    /// Unsent reply bytes above which a client that does not read is disconnected.
    std::size_t output_limit_bytes = 64 * 1024 * 1024;
    /// Connections beyond this are told so and closed.
    std::size_t max_clients = 1024;
  };

  /// Binds and starts listening. A stale socket file (nobody accepting) is replaced;
  /// a live one is an error ("another kairosd is listening on PATH"). Returns nullptr
  /// and sets *error on failure. The handler must outlive the server.
  ///
  /// Must be called on the loop thread while no other thread creates files: the
  /// socket is bound under a temporary umask(0177) so it is never reachable with
  /// looser permissions than `mode`.
  static std::unique_ptr<ControlServer> listen(uv_loop_t* loop, const Options& options,
                                               ControlHandler& handler, std::string* error);

  /// Calls close().
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;
  ControlServer(ControlServer&&) = delete;
  ControlServer& operator=(ControlServer&&) = delete;

  /// Stops accepting, disconnects every client and unlinks the socket file. Idempotent.
  /// The handles finish closing on the next loop iteration (their close callbacks free
  /// them); replies that arrive afterwards are dropped.
  void close();

  /// Connected clients (for tests and `status`).
  std::size_t client_count() const;
  const std::string& path() const;

  struct State;  // shared with the reply closures; defined in control_server.cc

 private:
  explicit ControlServer(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

/// Whether a peer may use the socket: root, `own_uid`, or a member of `group_gid`
/// (primary gid, or a supplementary group of the peer process, read from
/// /proc/PID/status, falling back to the user's groups from the group database).
/// `group_gid` == (gid_t)-1 means no group is allowed.
bool peer_allowed(const Peer& peer, uid_t own_uid, gid_t group_gid);

}  // namespace kairos::daemon

#include "daemon/control_server.h"

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "async/handle.h"
#include "config/accounts.h"
#include "protocol/messages.h"

namespace kairos::daemon {

namespace {

using nlohmann::json;
namespace proto = kairos::protocol;

constexpr std::size_t kReadChunk = 64 * 1024;
/// Outstanding (not yet answered) requests per client before its input is paused, so a
/// client cannot pile up unbounded pending `run --wait` requests.
constexpr std::size_t kMaxInflight = 1024;

std::string errno_text(int err) {
  return std::strerror(err);
}

// Supplementary groups of a live process; nullopt when unreadable or when the
// process no longer has the peer's uid (it exited and the pid was reused).
std::optional<std::vector<gid_t>> proc_groups(pid_t pid, uid_t uid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  if (!in) return std::nullopt;
  std::string line;
  bool uid_ok = false;
  std::optional<std::vector<gid_t>> groups;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    fields >> key;
    if (key == "Uid:") {
      long real = -1, eff = -1;
      fields >> real >> eff;
      uid_ok = eff == long(uid) || real == long(uid);
    } else if (key == "Groups:") {
      groups.emplace();
      long g;
      while (fields >> g) groups->push_back(gid_t(g));
    }
  }
  if (!uid_ok) return std::nullopt;
  return groups;
}

bool user_in_group(uid_t uid, gid_t gid) {
  auto user = config::find_user(uid);
  if (!user) return false;
  int n = 64;
  std::vector<gid_t> groups(n);
  if (getgrouplist(user->name.c_str(), user->gid, groups.data(), &n) < 0) {
    groups.resize(n);
    if (getgrouplist(user->name.c_str(), user->gid, groups.data(), &n) < 0) return false;
  }
  groups.resize(n);
  for (gid_t g : groups)
    if (g == gid) return true;
  return false;
}

// Connects to an existing socket file to tell a live daemon from a stale file.
// Returns 0 when something accepts, else the errno of connect().
int probe_socket(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  int err = rc == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

}  // namespace

bool peer_allowed(const Peer& peer, uid_t own_uid, gid_t group_gid) {
  if (peer.uid == 0 || peer.uid == own_uid) return true;
  if (group_gid == gid_t(-1)) return false;
  if (peer.gid == group_gid) return true;
  if (auto groups = proc_groups(peer.pid, peer.uid)) {
    for (gid_t g : *groups)
      if (g == group_gid) return true;
    return false;
  }
  return user_in_group(peer.uid, group_gid);
}

// ---------------------------------------------------------------------------------

struct Client;

struct ControlServer::State : std::enable_shared_from_this<ControlServer::State> {
  uv_loop_t* loop = nullptr;
  Options options;
  ControlHandler* handler = nullptr;
  uid_t own_uid = 0;
  gid_t group_gid = gid_t(-1);
  async::UvHandle<uv_pipe_t> listener;
  ino_t socket_ino = 0;
  bool closed = false;
  std::uint64_t next_client_id = 1;
  // Clients by generation id. Reply closures hold the id, never a pointer: a client
  // that disconnected before its reply is simply not found here any more.
  std::unordered_map<std::uint64_t, Client*> clients;

  void on_connection();
  void deliver(std::uint64_t client_id, const std::string& line);
};

/// One connection. Allocated on accept, owned by its own uv handle: it is deleted only
/// in the handle's close callback, so it stays valid for the rest of any libuv
/// callback that is running when it is disconnected.
struct Client {
  uv_pipe_t pipe{};
  ControlServer::State* server;  // valid while `open`; never used after disconnect
  std::uint64_t id;
  Peer peer;
  proto::LineSplitter splitter;
  std::size_t unsent = 0;  // bytes handed to uv_write and not yet written
  bool open = true;
  bool reading = false;
  // Lines read but not yet handled: while too much output is unsent, requests wait
  // here (at most one read chunk's worth, since reading stops meanwhile).
  std::deque<std::string> backlog;
  std::size_t inflight = 0;  // requests handed to the handler and not yet answered
  bool eof = false;          // the peer shut down its write side
  char buf[kReadChunk];

  Client(ControlServer::State* s, std::uint64_t client_id)
      : server(s), id(client_id), splitter(s->options.max_line) {}
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&pipe); }

  void start_reading();
  void stop_reading() {
    if (reading) uv_read_stop(stream());
    reading = false;
  }
  void on_read(ssize_t nread, const uv_buf_t* b);
  /// Requests wait (unread) while too many replies are unsent or outstanding.
  bool paused() const {
    return unsent > server->options.output_pause_bytes || inflight >= kMaxInflight;
  }
  void drain();
  void finish_if_done() {
    if (open && eof && backlog.empty() && inflight == 0 && unsent == 0) disconnect(nullptr);
  }
  void handle_line(const std::string& line);
  void send(const std::string& line);
  void disconnect(const char* why);
};

namespace {

struct WriteReq {
  uv_write_t req{};
  std::string data;
};

}  // namespace

void Client::start_reading() {
  if (reading || !open) return;
  int rc = uv_read_start(
      stream(),
      [](uv_handle_t* h, std::size_t, uv_buf_t* out) {
        auto* c = static_cast<Client*>(h->data);
        *out = uv_buf_init(c->buf, sizeof(c->buf));
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
        auto* c = static_cast<Client*>(s->data);
        if (c->open) c->on_read(n, b);
      });
  if (rc != 0) {
    disconnect("read start failed");
    return;
  }
  reading = true;
}

void Client::on_read(ssize_t nread, const uv_buf_t* b) {
  if (nread == 0) return;
  if (nread == UV_EOF) {
    // A half-close (`printf ... | socat - UNIX-CONNECT:...`) still gets its answers:
    // finish the queued and in-flight requests, then close. A peer that closed both
    // directions makes the pending writes fail with EPIPE, which also closes.
    eof = true;
    stop_reading();
    drain();
    finish_if_done();
    return;
  }
  if (nread < 0) {
    disconnect(uv_strerror(int(nread)));
    return;
  }
  std::vector<std::string> lines;
  bool ok = splitter.feed(std::string_view(b->base, std::size_t(nread)), lines);
  for (auto& line : lines) backlog.push_back(std::move(line));
  drain();
  if (!open) return;
  if (!ok) {
    proto::Error e{proto::errc::request_too_large,
                   "request line exceeds " + std::to_string(server->options.max_line) +
                       " bytes; closing the connection",
                   nullptr};
    std::string line = proto::encode_error(nullptr, e);
    // Best effort: the connection is being dropped, so do not queue behind a backlog.
    if (unsent == 0) {
      uv_buf_t wb = uv_buf_init(line.data(), unsigned(line.size()));
      uv_try_write(stream(), &wb, 1);
    }
    disconnect("request line too long");
  }
}

void Client::drain() {
  while (open && !backlog.empty() && !paused()) {
    std::string line = std::move(backlog.front());
    backlog.pop_front();
    // The handler may reply synchronously and that reply may exceed the output limit,
    // which disconnects: `this` stays valid (freed only in the close callback), but
    // the loop must stop and `server` must not be used any more.
    handle_line(line);
  }
  if (!open) return;
  if (backlog.empty() && !paused() && !eof) {
    start_reading();
  } else {
    stop_reading();
  }
  finish_if_done();
}

void Client::handle_line(const std::string& line) {
  auto decoded = proto::decode_and_check_request(line);
  if (auto* bad = std::get_if<proto::BadRequest>(&decoded)) {
    send(proto::encode_error(bad->id, bad->error));
    return;
  }
  auto& req = std::get<proto::Request>(decoded);
  // Reply closures capture the server's state weakly plus this client's id, so a
  // reply after the client left, or after the server closed, is dropped.
  std::weak_ptr<ControlServer::State> weak = server->weak_from_this();
  auto shared = std::make_shared<bool>(false);
  std::uint64_t cid = id;
  json rid = req.id;
  std::string method = req.method;
  Reply reply = [weak, cid, rid, method, replied = shared](RpcResult result) {
    if (*replied) {
      spdlog::error("control: handler replied twice to '{}'; second reply dropped", method);
      return;
    }
    *replied = true;
    auto state = weak.lock();
    if (!state) return;
    std::string out;
    if (auto* r = std::get_if<json>(&result)) {
      out = proto::encode_result(rid, *r);
    } else {
      auto& e = std::get<RpcError>(result);
      out = proto::encode_error(rid, proto::Error{e.code, e.message, e.data});
    }
    state->deliver(cid, out);
  };
  ++inflight;
  try {
    server->handler->handle(req.method, req.params, peer, std::move(reply));
  } catch (const std::exception& e) {
    // The contract says handle() never throws; if it does, answer rather than crash.
    spdlog::error("control: handler threw on '{}': {}", method, e.what());
    if (!*shared) {
      *shared = true;
      --inflight;
      send(proto::encode_error(rid, {proto::errc::internal_error, "internal error", nullptr}));
    }
  }
}

void Client::send(const std::string& line) {
  if (!open) return;
  const auto& opt = server->options;
  if (unsent > 0 && unsent + line.size() > opt.output_limit_bytes) {
    // A client that asks and never reads: drop it rather than buffer without bound.
    disconnect("client does not read its replies (output limit exceeded)");
    return;
  }
  auto* w = new WriteReq;
  w->data = line;
  uv_buf_t wb = uv_buf_init(w->data.data(), unsigned(w->data.size()));
  int rc = uv_write(&w->req, stream(), &wb, 1, [](uv_write_t* req, int status) {
    auto* w = reinterpret_cast<WriteReq*>(req);
    // The Client lives until its handle's close callback, which libuv runs after
    // cancelling (UV_ECANCELED) pending writes, so it is valid here; after a
    // disconnect it is merely no longer `open`.
    auto* c = static_cast<Client*>(req->handle->data);
    std::size_t n = w->data.size();
    delete w;
    if (!c->open) return;
    c->unsent -= n;
    if (status < 0) {
      c->disconnect(uv_strerror(status));
      return;
    }
    // Resume with hysteresis so a slow reader does not flip reading on and off per write.
    if (!c->reading && c->unsent <= c->server->options.output_pause_bytes / 2) c->drain();
    c->finish_if_done();
  });
  if (rc != 0) {
    delete w;
    disconnect(uv_strerror(rc));
    return;
  }
  unsent += line.size();
  if (paused()) stop_reading();
}

void Client::disconnect(const char* why) {
  if (!open) return;
  open = false;
  if (why) spdlog::debug("control: client {} (pid {}) disconnected: {}", id, peer.pid, why);
  server->clients.erase(id);
  server = nullptr;
  reading = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&pipe),
           [](uv_handle_t* h) { delete static_cast<Client*>(h->data); });
}

void ControlServer::State::deliver(std::uint64_t client_id, const std::string& line) {
  auto it = clients.find(client_id);
  if (it == clients.end()) return;  // the client left before its reply: drop it
  Client* c = it->second;
  bool was_paused = c->paused();
  --c->inflight;
  c->send(line);
  if (!c->open) return;
  // Input paused on the in-flight cap resumes here; when paused on unsent output, the
  // write callback resumes it instead.
  if (was_paused && !c->paused()) c->drain();
  c->finish_if_done();
}

void ControlServer::State::on_connection() {
  auto* c = new Client(this, next_client_id++);
  if (uv_pipe_init(loop, &c->pipe, 0) != 0) {
    delete c;
    return;
  }
  c->pipe.data = c;
  clients.emplace(c->id, c);
  if (uv_accept(reinterpret_cast<uv_stream_t*>(listener.get()), c->stream()) != 0) {
    c->disconnect("accept failed");
    return;
  }
  uv_os_fd_t fd = -1;
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&c->pipe), &fd) != 0 ||
      getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    c->disconnect("SO_PEERCRED failed");
    return;
  }
  c->peer = Peer{cred.pid, cred.uid, cred.gid};

  auto refuse = [&](int code, const std::string& msg) {
    std::string line = proto::encode_error(nullptr, proto::Error{code, msg, nullptr});
    uv_buf_t wb = uv_buf_init(line.data(), unsigned(line.size()));
    uv_try_write(c->stream(), &wb, 1);  // a fresh socket buffer takes a short line
    c->disconnect(nullptr);
  };
  if (!peer_allowed(c->peer, own_uid, group_gid)) {
    spdlog::warn(
        "control: refused connection from pid {} uid {} gid {}: not root, not uid {} "
        "and not in the socket group",
        cred.pid, cred.uid, cred.gid, own_uid);
    refuse(proto::errc::access_denied,
           "access denied: uid " + std::to_string(cred.uid) +
               " is not allowed to control kairosd (needs root, the daemon's user or the "
               "socket group)");
    return;
  }
  if (clients.size() > options.max_clients) {
    spdlog::warn("control: refused connection from pid {}: {} clients connected", cred.pid,
                 clients.size() - 1);
    refuse(proto::errc::internal_error, "too many connections");
    return;
  }
  c->start_reading();
}

// ---------------------------------------------------------------------------------

ControlServer::ControlServer(std::shared_ptr<State> state) : state_(std::move(state)) {}

ControlServer::~ControlServer() {
  close();
}

std::size_t ControlServer::client_count() const {
  return state_->clients.size();
}
const std::string& ControlServer::path() const {
  return state_->options.path;
}

std::unique_ptr<ControlServer> ControlServer::listen(uv_loop_t* loop, const Options& options,
                                                     ControlHandler& handler, std::string* error) {
  auto fail = [&](std::string msg) -> std::unique_ptr<ControlServer> {
    if (error) *error = std::move(msg);
    return nullptr;
  };
  const std::string& path = options.path;
  if (path.empty()) return fail("control socket path is empty");
  if (path.size() >= sizeof(sockaddr_un{}.sun_path))
    return fail("control socket path is too long (max " +
                std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes): " + path);

  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return fail(path + " exists and is not a socket");
    int err = probe_socket(path);
    if (err == 0) return fail("another kairosd is listening on " + path);
    if (err != ECONNREFUSED)
      return fail("cannot check existing socket " + path + ": " + errno_text(err));
    // Nobody accepts: a dead daemon's leftover. Replace it.
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return fail("cannot remove stale socket " + path + ": " + errno_text(errno));
    spdlog::info("control: replaced stale socket {}", path);
  }

  // libuv writes with write(2), so a client that hangs up while a reply is being written
  // would kill the daemon with SIGPIPE. Ignore it (unless someone installed a handler);
  // the write then fails with EPIPE and only that client is dropped.
  struct sigaction old_action {};
  if (::sigaction(SIGPIPE, nullptr, &old_action) == 0 && old_action.sa_handler == SIG_DFL)
    ::signal(SIGPIPE, SIG_IGN);

  auto state = std::make_shared<State>();
  state->loop = loop;
  state->options = options;
  state->handler = &handler;
  state->own_uid = ::geteuid();
  if (auto gid = config::find_group(options.group)) {
    state->group_gid = *gid;
  } else if (!options.group.empty()) {
    spdlog::warn("control: socket group '{}' does not exist; socket is owner-only", options.group);
  }

  if (int rc = state->listener.init(uv_pipe_init, loop, 0); rc != 0)
    return fail(std::string("uv_pipe_init: ") + uv_strerror(rc));
  // Bind under a restrictive umask so the socket never exists with looser bits than
  // requested, even for the instant between bind and chmod.
  mode_t old = ::umask(0177);
  int rc = uv_pipe_bind(state->listener.get(), path.c_str());
  ::umask(old);
  if (rc != 0) return fail("cannot bind " + path + ": " + uv_strerror(rc));

  unsigned mode = options.mode & 0777;
  if (state->group_gid != gid_t(-1)) {
    if (::chown(path.c_str(), uid_t(-1), state->group_gid) != 0) {
      spdlog::warn("control: cannot give {} to group '{}': {}; socket is owner-only", path,
                   options.group, errno_text(errno));
      state->group_gid = gid_t(-1);
    }
  }
  if (state->group_gid == gid_t(-1)) mode &= 0700;
  if (::chmod(path.c_str(), mode) != 0) {
    int err = errno;
    ::unlink(path.c_str());
    return fail("cannot chmod " + path + ": " + errno_text(err));
  }
  if (::lstat(path.c_str(), &st) == 0) state->socket_ino = st.st_ino;

  // close() resets the listener (clearing data) before the state can go away.
  state->listener.get()->data = state.get();
  rc = uv_listen(reinterpret_cast<uv_stream_t*>(state->listener.get()), options.backlog,
                 [](uv_stream_t* s, int status) {
                   auto* st = static_cast<State*>(s->data);
                   if (st && status >= 0) st->on_connection();
                 });
  if (rc != 0) {
    ::unlink(path.c_str());
    return fail("cannot listen on " + path + ": " + uv_strerror(rc));
  }
  return std::unique_ptr<ControlServer>(new ControlServer(std::move(state)));
}

void ControlServer::close() {
  auto& s = *state_;
  if (s.closed) return;
  s.closed = true;
  s.listener.close();  // clears data and closes
  // Only unlink the file if it is still ours (not a successor daemon's socket).
  struct stat st {};
  if (::lstat(s.options.path.c_str(), &st) == 0 && st.st_ino == s.socket_ino)
    ::unlink(s.options.path.c_str());
  // disconnect() erases from the map, so take a copy first.
  std::vector<Client*> all;
  for (auto& [id, c] : s.clients) all.push_back(c);
  for (auto* c : all) c->disconnect("server closing");
}

}  // namespace kairos::daemon

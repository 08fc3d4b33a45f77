// Test support: runs a ControlServer on a real libuv loop in a background thread,
// plus a blocking line-oriented client. Shared by the server tests and fake_kairosd.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "daemon/control_server.h"

namespace kairos::testing {

/// Owns a loop thread: listen() on it, run it, and on stop() close the server,
/// finish the loop and record uv_loop_close().
class ServerHarness {
 public:
  ServerHarness() = default;
  ServerHarness(const ServerHarness&) = delete;
  ServerHarness& operator=(const ServerHarness&) = delete;
  ~ServerHarness() { stop(); }

  /// Returns an empty string on success, else listen()'s error.
  std::string start(const daemon::ControlServer::Options& options, daemon::ControlHandler& h) {
    std::promise<std::string> ready;
    auto started = ready.get_future();
    thread_ = std::thread([this, options, &h, &ready] {
      uv_loop_init(&loop_);
      uv_async_init(&loop_, &async_,
                    [](uv_async_t* a) { static_cast<ServerHarness*>(a->data)->run_posted(); });
      async_.data = this;
      std::string err;
      server_ = daemon::ControlServer::listen(&loop_, options, h, &err);
      if (!server_) stopping_ = true;
      ready.set_value(err);
      if (server_) uv_run(&loop_, UV_RUN_DEFAULT);
      // stop() closes the async handle from inside the loop; a failed listen() did not.
      if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&async_)))
        uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
      uv_run(&loop_, UV_RUN_DEFAULT);
      loop_close_rc_ = uv_loop_close(&loop_);
      if (loop_close_rc_ != 0) uv_print_all_handles(&loop_, stderr);
    });
    std::string err = started.get();
    if (!err.empty()) {
      thread_.join();
      started_ = false;
    } else {
      started_ = true;
    }
    return err;
  }

  /// Runs fn on the loop thread and waits for it.
  template <class F>
  auto call(F fn) -> decltype(fn()) {
    using R = decltype(fn());
    std::packaged_task<R()> task(std::move(fn));
    auto fut = task.get_future();
    {
      std::lock_guard lock(mu_);
      posted_.push_back([&task] { task(); });
    }
    uv_async_send(&async_);
    return fut.get();
  }

  /// Runs a closure on the loop thread without waiting (e.g. a delayed reply).
  void post(std::function<void()> fn) {
    {
      std::lock_guard lock(mu_);
      posted_.push_back(std::move(fn));
    }
    uv_async_send(&async_);
  }

  std::size_t client_count() {
    return call([this] { return server_ ? server_->client_count() : std::size_t(0); });
  }

  /// Closes the server, lets every close callback run, joins. Returns uv_loop_close().
  int stop() {
    if (!started_) return loop_close_rc_;
    started_ = false;
    post([this] {
      server_.reset();  // ~ControlServer closes listener and clients
      stopping_ = true;
      if (after_close_) after_close_();
      uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
    });
    thread_.join();
    return loop_close_rc_;
  }

  /// Runs on the loop thread right after the server is destroyed (tests replies that
  /// arrive after close).
  void on_after_close(std::function<void()> fn) { after_close_ = std::move(fn); }

  uv_loop_t* loop() { return &loop_; }

 private:
  void run_posted() {
    std::vector<std::function<void()>> fns;
    {
      std::lock_guard lock(mu_);
      fns.swap(posted_);
    }
    for (auto& f : fns) f();
  }

  uv_loop_t loop_{};
  uv_async_t async_{};
  std::thread thread_;
  std::unique_ptr<daemon::ControlServer> server_;
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;
  std::function<void()> after_close_;
  bool started_ = false;
  bool stopping_ = false;
  int loop_close_rc_ = -1;
};

/// A blocking client socket reading newline-delimited replies.
class LineClient {
 public:
  LineClient() = default;
  LineClient(const LineClient&) = delete;
  LineClient& operator=(const LineClient&) = delete;
  LineClient(LineClient&& o) noexcept : fd_(o.fd_), buf_(std::move(o.buf_)) { o.fd_ = -1; }
  ~LineClient() { close(); }

  /// Returns 0 or errno.
  int connect(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return errno;
    return 0;
  }
  bool send(const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += std::size_t(n);
    }
    return true;
  }
  /// Next line without the newline; nullopt on EOF, error or timeout.
  std::optional<std::string> read_line(
      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, int(left.count())) <= 0) return std::nullopt;
      char tmp[65536];
      ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
      if (n <= 0) return std::nullopt;
      buf_.append(tmp, std::size_t(n));
    }
  }
  /// True once the server closed the connection (EOF or reset) within the timeout.
  bool wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) < 0) return false;
      if (p.revents) {
        char tmp[65536];
        ssize_t n = ::recv(fd_, tmp, sizeof(tmp), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN)) return true;
      }
    }
    return false;
  }
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  std::string buf_;
};

/// Polls `cond` until true or the deadline passes.
inline bool wait_for(const std::function<bool()>& cond,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

}  // namespace kairos::testing

// Signals and file changes as awaitables: the libuv callbacks only record what happened and
// wake the one coroutine waiting, which then does the work on the loop (shutdown, reload).
#pragma once

#include <coroutine>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "async/cancel.h"
#include "async/handle.h"
#include "async/loop.h"

namespace kairos::async {

namespace detail {
/// What a callback hands to a single waiting coroutine, in arrival order.
template <class T>
class Mailbox {
 public:
  explicit Mailbox(Loop& loop) : loop_(loop) {}
  void post(T v) {
    items_.push_back(std::move(v));
    if (waiter_) loop_.schedule(std::exchange(waiter_, nullptr));
  }
  void wake_all() {
    closed_ = true;
    if (waiter_) loop_.schedule(std::exchange(waiter_, nullptr));
  }
  /// co_await → the next item, or nullopt when cancelled or closed.
  class Awaiter {
   public:
    Awaiter(Mailbox& m, CancelToken t) : m_(m), token_(std::move(t)) {}
    bool await_ready() const { return !m_.items_.empty() || m_.closed_ || token_.requested(); }
    void await_suspend(std::coroutine_handle<> h) {
      m_.waiter_ = h;
      cancel_.arm(token_, [this] {
        if (m_.waiter_) m_.loop_.schedule(std::exchange(m_.waiter_, nullptr));
      });
    }
    std::optional<T> await_resume() {
      cancel_.reset();
      m_.waiter_ = nullptr;
      if (m_.items_.empty() || token_.requested()) return std::nullopt;
      T v = std::move(m_.items_.front());
      m_.items_.pop_front();
      return v;
    }

   private:
    Mailbox& m_;
    CancelToken token_;
    CancelRegistration cancel_;
  };
  Awaiter next(CancelToken t) { return Awaiter(*this, std::move(t)); }

 private:
  Loop& loop_;
  std::deque<T> items_;
  std::coroutine_handle<> waiter_;
  bool closed_ = false;
};
}  // namespace detail

/// Delivers the listed signals to one awaiting coroutine. The handles do not keep the loop
/// alive by themselves.
class SignalSet {
 public:
  /// nullptr + *error when a handler cannot be installed.
  static std::unique_ptr<SignalSet> create(Loop& loop, const std::vector<int>& signals,
                                           std::string* error);
  SignalSet(const SignalSet&) = delete;
  SignalSet& operator=(const SignalSet&) = delete;
  /// co_await next(token) → the signal number, or nullopt once cancelled or closed.
  detail::Mailbox<int>::Awaiter next(CancelToken token = {}) { return box_.next(std::move(token)); }
  void close();

 private:
  explicit SignalSet(Loop& loop) : box_(loop) {}
  detail::Mailbox<int> box_;
  std::vector<std::unique_ptr<UvHandle<uv_signal_t>>> handles_;
};

/// Reports files created, changed, renamed or removed in a set of directories (editors
/// replace files by rename, which a watch on the file itself would lose).
class DirectoryWatch {
 public:
  /// Directories that cannot be watched are skipped; each is described in *warnings.
  static std::unique_ptr<DirectoryWatch> create(Loop& loop, const std::vector<std::string>& dirs,
                                                std::vector<std::string>* warnings);
  DirectoryWatch(const DirectoryWatch&) = delete;
  DirectoryWatch& operator=(const DirectoryWatch&) = delete;
  /// co_await changed(token) → the name of a changed entry, or nullopt once cancelled/closed.
  detail::Mailbox<std::string>::Awaiter changed(CancelToken token = {}) {
    return box_.next(std::move(token));
  }
  void close();

 private:
  explicit DirectoryWatch(Loop& loop) : box_(loop) {}
  detail::Mailbox<std::string> box_;
  std::vector<std::unique_ptr<UvHandle<uv_fs_event_t>>> handles_;
};

}  // namespace kairos::async

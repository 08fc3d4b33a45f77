// History: the daemon's write path into the Store.
//
// Writes made while the loop drains its ready queue share one transaction, committed
// when the drain ends, so a burst of 1,000 firings costs one commit instead of 1,000.
// A run's row must exist before its process does (DESIGN.md "Crash"), so the runner
// awaits durable() between writing the attempt row and spawning: it resumes right
// after the batch holding its rows has been committed.
#pragma once

#include <coroutine>
#include <string>
#include <vector>

#include "async/loop.h"
#include "store/store.h"

namespace kairos::daemon {

class History {
 public:
  /// `db_path` is used to checkpoint the WAL from libuv's thread pool.
  History(async::Loop& loop, store::Store& store, std::string db_path);
  History(const History&) = delete;
  History& operator=(const History&) = delete;

  /// The store for writing: opens the batch's transaction if none is open.
  store::Store& write();
  /// The store for reading (sees the batch's uncommitted writes: same connection).
  store::Store& read() { return store_; }

  struct Durable {
    History& h;
    bool await_ready() const noexcept { return !h.open_; }
    void await_suspend(std::coroutine_handle<> c) { h.waiters_.push_back(c); }
    void await_resume() const noexcept {}
  };
  /// Resumes the caller once everything written so far is committed.
  Durable durable() { return Durable{*this}; }

  /// Commits the open batch now (shutdown, tests).
  void flush();
  std::uint64_t commits() const { return commits_; }
  /// The longest commit so far, in microseconds (the loop is blocked meanwhile).
  std::int64_t max_commit_us() const { return max_commit_us_; }
  std::uint64_t checkpoints() const { return checkpoints_; }

 private:
  async::Loop& loop_;
  store::Store& store_;
  std::vector<std::coroutine_handle<>> waiters_;
  bool open_ = false;
  std::uint64_t commits_ = 0;
  std::int64_t max_commit_us_ = 0;
  void start_checkpoint();
  std::string db_path_;
  bool checkpoint_running_ = false;
  std::uint64_t checkpoints_ = 0;
};

}  // namespace kairos::daemon

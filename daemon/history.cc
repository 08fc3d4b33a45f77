#include "daemon/history.h"

#include <chrono>

#include <spdlog/spdlog.h>

namespace kairos::daemon {

History::History(async::Loop& loop, store::Store& store) : loop_(loop), store_(store) {
  loop_.on_drained([this] { flush(); });
}

store::Store& History::write() {
  if (!open_) {
    store_.begin();
    open_ = true;
    // Make sure a drain (and so the commit) follows even if this write came from a
    // plain libuv callback rather than a resumed coroutine.
    loop_.request_drain();
  }
  return store_;
}

void History::flush() {
  if (open_) {
    open_ = false;
    try {
      auto t0 = std::chrono::steady_clock::now();
      store_.commit();
      ++commits_;
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now() - t0)
                    .count();
      if (us > max_commit_us_) max_commit_us_ = us;
      // The loop is blocked while SQLite commits: say so when it is long enough to
      // delay firings (a checkpoint on a slow disk, a reader holding a lock).
      if (us > 20'000) spdlog::warn("history: a commit blocked the loop for {} ms", us / 1000);
    } catch (const std::exception& e) {
      // The store rolled back; the daemon keeps running, and the loss is loud.
      spdlog::error("history: commit failed, {} waiting writes lost: {}", waiters_.size(),
                    e.what());
    }
  }
  for (auto c : waiters_) loop_.schedule(c);
  waiters_.clear();
}

}  // namespace kairos::daemon

#include "daemon/history.h"

#include <chrono>
#include <memory>

#include <spdlog/spdlog.h>

namespace kairos::daemon {

namespace {
/// WAL size (pages of 4 KiB) at which a background checkpoint starts.
constexpr int kCheckpointPages = 1000;

struct CheckpointWork {
  uv_work_t req{};
  History* history;
  std::string path;
  std::string error;
  bool ok = false;
};
}  // namespace

History::History(async::Loop& loop, store::Store& store, std::string db_path)
    : loop_(loop), store_(store), db_path_(std::move(db_path)) {
  loop_.on_drained([this] { flush(); });
  // SQLite's automatic checkpoint would sync the database inside a commit, on the loop,
  // right before a spawn (2-10 ms every ~100 firings when measured). Do it on the thread
  // pool instead, through a second connection; the WAL lets both proceed.
  store_.on_wal_commit([this](int pages) {
    if (pages >= kCheckpointPages) start_checkpoint();
  });
}

void History::start_checkpoint() {
  if (checkpoint_running_) return;
  checkpoint_running_ = true;
  auto* w = new CheckpointWork{};
  w->history = this;
  w->path = db_path_;
  w->req.data = w;
  int rc = uv_queue_work(
      loop_.uv(), &w->req,
      [](uv_work_t* r) {
        auto* w = static_cast<CheckpointWork*>(r->data);
        w->ok = store::Store::checkpoint(w->path, &w->error);
      },
      [](uv_work_t* r, int) {
        // Owns the request: freed here, after the thread pool is done with it.
        std::unique_ptr<CheckpointWork> w(static_cast<CheckpointWork*>(r->data));
        w->history->checkpoint_running_ = false;
        if (w->ok) ++w->history->checkpoints_;
        else spdlog::warn("history: background checkpoint failed: {}", w->error);
      });
  if (rc != 0) {
    delete w;
    checkpoint_running_ = false;
  }
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

// History: the daemon's write path into the Store, kept off the event loop.
//
// The loop never waits for the disk on behalf of history. Writes are queued on the loop
// thread and handed over, at the end of every drain of the loop's ready queue, as one batch
// to a writer thread that owns a connection of its own: BEGIN, the batch, COMMIT. A burst of
// 1,000 firings is one commit, and while one commit is on its way to disk the next batch
// gathers, so the commit rate follows the disk. A commit that waits 40 ms for the disk
// delays only the runs waiting for their rows, never a timer or a reap.
//
// Checkpoints: once 4 MiB have been added to the WAL, a checkpoint thread (started at the
// first one) copies it into the database and syncs it, while commits go on. The frames
// committed meanwhile are then copied by the writer after its next commit: few, so quick,
// and with nothing writing, so every frame is copied and the commit after it starts the WAL
// over. Without that last step the WAL would rarely be wholly copied under steady load,
// never start over, and grow.
//
// Run ids are assigned here (one past the newest row at start-up), so insert_run() returns
// at once. A run's row must exist before its process does (docs/semantics.md): callers
// co_await durable(), which resumes them once everything queued before it is committed.
//
// Deferred writes: a run's start (its `running` status and its attempt's first row) and a
// job's state after a firing are not needed for crash safety (the run's row is committed
// before its process exists; start-up reads a job's last firing from its newest row). They
// wait up to kDeferMs on the loop: a run that ends by then writes its start with its end,
// and a job firing several times meanwhile writes its state once. A kill -9 loses at most
// that second of them: the run's row says `queued` instead of `running` (start-up records
// both `interrupted`), its attempt row is missing.
//
// read() is the loop's own connection and sees committed rows only. A caller that must see
// its own writes (a client asking about a run that has just ended) waits for durable() or
// when_durable() first.
#pragma once

#include <atomic>
#include <condition_variable>
#include <coroutine>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "async/handle.h"
#include "async/loop.h"
#include "store/store.h"

namespace kairos::daemon {

class History {
 public:
  /// `reader` serves read(); `writer` is moved to the writer thread, which it starts;
  /// `db_path` is opened again by the checkpoint thread.
  History(async::Loop& loop, store::Store& reader, std::unique_ptr<store::Store> writer,
          std::string db_path);
  /// Commits what is queued and stops the writer (close() if not called yet).
  ~History();
  History(const History&) = delete;
  History& operator=(const History&) = delete;

  // --- writes (loop thread; committed by the writer, in order) -------------------------
  /// Queues a new run row and returns the id it will have (row.id is ignored).
  std::int64_t insert_run(store::RunRow row);
  void set_run_status(std::int64_t run_id, store::RunStatus status,
                      std::optional<store::Millis> started_at);
  void finish_run(store::RunRow row);
  void delete_run(std::int64_t run_id);
  void insert_attempt(store::AttemptRow row);
  void finish_attempt(store::AttemptRow row);
  void put_job_state(store::JobState state);
  /// Attempt `attempt` of a run started at `at` (and the run with it, if `attempt` is 1):
  /// written within kDeferMs, or with the attempt's end if it comes first.
  void start_attempt(std::int64_t run_id, int attempt, store::Millis at);
  /// A job's state after a firing: written within kDeferMs, the newest one only.
  void put_job_state_soon(store::JobState state);
  /// How long a deferred write may wait.
  static constexpr std::uint64_t kDeferMs = 1000;
  /// Store::prune on the writer thread; what it deleted is logged at debug level.
  void prune(std::int64_t keep_per_job, store::Millis keep_for_ms, store::Millis now,
             std::int64_t max_delete);

  /// The loop's connection: committed rows only.
  store::Store& read() { return reader_; }

  /// The batch that holds every write made so far. committed(mark()) later tells whether
  /// they are on disk, without anyone being woken for it.
  std::uint64_t mark() const { return pending_.empty() ? submitted_ : submitted_ + 1; }
  /// True once batch `mark` is committed (or its commit failed, which is logged).
  bool committed(std::uint64_t mark) const {
    return closed_ || committed_.load(std::memory_order_acquire) >= mark;
  }

  /// Batch `mark` is committed and no one waiting for it or an older batch is still to be
  /// called: a waiter goes on now without overtaking them.
  bool resumable(std::uint64_t mark) const {
    return committed(mark) && (waiters_.empty() || waiters_.front().batch > mark);
  }

  struct Durable {
    History& h;
    std::uint64_t mark;
    bool await_ready() const noexcept { return h.resumable(mark); }
    void await_suspend(std::coroutine_handle<> c) {
      h.when_committed(mark, [&loop = h.loop_, c] { loop.schedule(c); });
    }
    void await_resume() const noexcept {}
  };
  /// Resumes the caller once everything written so far is committed.
  Durable durable() { return Durable{*this, mark()}; }
  /// Resumes the caller once the writes made before `mark` was taken are committed.
  Durable durable(std::uint64_t mark) { return Durable{*this, mark}; }
  /// Calls `fn` on the loop once batch `mark` is committed: now, if it is.
  void when_committed(std::uint64_t mark, std::function<void()> fn);
  /// Calls `fn` on the loop once everything written so far is committed: now, if it is.
  void when_durable(std::function<void()> fn) { when_committed(mark(), std::move(fn)); }
  /// True when nothing written so far is waiting for its commit.
  bool settled() const {
    return pending_.empty() && committed_.load(std::memory_order_acquire) == submitted_;
  }

  /// Blocks the loop thread until everything written so far is committed (reload, shutdown).
  void flush();
  /// flush(), then stops the writer thread and lets go of the loop (its handle and hook).
  /// Idempotent; the loop may be gone once it returns. Writes made after it are committed
  /// by the destructor.
  void close();

  std::uint64_t commits() const { return commits_.load(std::memory_order_relaxed); }
  /// The longest commit so far, in microseconds (on the writer thread).
  std::int64_t max_commit_us() const { return max_commit_us_.load(std::memory_order_relaxed); }
  std::uint64_t checkpoints() const { return checkpoints_.load(std::memory_order_relaxed); }
  /// The longest checkpoint so far (on the checkpoint thread), and the longest catch-up
  /// after one (on the writer, between two commits), in microseconds.
  std::int64_t max_checkpoint_us() const {
    return max_checkpoint_us_.load(std::memory_order_relaxed);
  }
  std::int64_t max_catch_up_us() const { return max_catch_up_us_.load(std::memory_order_relaxed); }

 private:
  struct InsertRun { store::RunRow row; };
  struct FinishRun { store::RunRow row; };
  struct SetStatus {
    std::int64_t run_id;
    store::RunStatus status;
    std::optional<store::Millis> started_at;
  };
  struct DeleteRun { std::int64_t run_id; };
  struct InsertAttempt { store::AttemptRow row; };
  struct FinishAttempt { store::AttemptRow row; };
  struct Prune {
    std::int64_t keep_per_job;
    store::Millis keep_for_ms, now;
    std::int64_t max_delete;
  };
  using Write = std::variant<InsertRun, FinishRun, SetStatus, DeleteRun, InsertAttempt,
                             FinishAttempt, store::JobState, Prune>;

  void push(Write w);
  /// A run's start not written yet: its `running` status (with started_at for the first
  /// attempt), and its current attempt's first row unless `attempt` is 0.
  struct DeferredStart {
    std::optional<store::Millis> started_at;
    int attempt = 0;
    store::Millis attempt_started_at = 0;
  };
  void defer();             // arms the timer that writes what is deferred
  void write_deferred();    // pushes every deferred write
  void write_start(std::int64_t run_id, const DeferredStart& d);
  /// Pushes run_id's deferred start, if any, ahead of another write about that run.
  void write_start_now(std::int64_t run_id);
  void submit();           // loop: pending_ -> inbox_, wakes the writer
  void resume_waiters(std::uint64_t upto);  // loop: those whose batch is committed
  void writer_main();      // writer thread
  void commit(std::vector<Write>& batch);
  void after_commit();     // writer thread: starts or finishes a checkpoint
  void checkpointer_main();  // checkpoint thread
  void apply(Write& w);

  async::Loop& loop_;
  store::Store& reader_;
  std::unique_ptr<store::Store> writer_;
  std::string db_path_;

  // Loop thread only.
  std::vector<Write> pending_;
  std::uint64_t submitted_ = 0;       // batches handed to the writer
  struct Waiter {
    std::uint64_t batch;
    std::function<void()> fn;
  };
  std::deque<Waiter> waiters_;  // in batch order
  std::int64_t next_run_id_ = 1;
  async::UvHandle<uv_async_t> committed_signal_;
  bool closed_ = false;
  std::unordered_map<std::int64_t, DeferredStart> deferred_starts_;
  std::unordered_map<std::string, store::JobState> deferred_states_;
  async::UvHandle<uv_timer_t> defer_timer_;

  // Shared, under mu_.
  std::mutex mu_;
  std::condition_variable work_;  // the writer waits for a batch
  std::condition_variable done_;  // flush() waits for the writer
  std::vector<Write> inbox_;
  std::uint64_t inbox_batch_ = 0;  // the newest batch in inbox_
  // The newest batch the writer has finished (written under mu_ too, for flush()).
  std::atomic<std::uint64_t> committed_{0};
  // The loop has waiters: the writer must wake it after each commit. Without waiters the
  // loop has nothing to do with a commit, and is not woken (an eventfd round trip saved on
  // most batches). Set by the loop, read by the writer; see when_durable().
  std::atomic<bool> wake_loop_{false};
  bool stop_ = false;
  // The checkpoint thread's state: idle, asked to run, done (the writer finishes it).
  enum class Checkpoint { idle, wanted, done };
  Checkpoint checkpoint_ = Checkpoint::idle;
  std::condition_variable checkpoint_work_;

  // Writer thread only, apart from the relaxed counters.
  int wal_pages_ = 0;
  int wal_pages_at_checkpoint_ = 0;  // the WAL's size when the last checkpoint was asked for
  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::int64_t> max_commit_us_{0};
  std::atomic<std::uint64_t> checkpoints_{0};
  std::atomic<std::int64_t> max_checkpoint_us_{0};
  std::atomic<std::int64_t> max_catch_up_us_{0};
  std::thread thread_;
  std::thread checkpointer_;  // started at the first checkpoint
};

}  // namespace kairos::daemon

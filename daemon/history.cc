#include "daemon/history.h"

#include <signal.h>

#include <chrono>
#include <iterator>
#include <limits>
#include <type_traits>

#include <spdlog/spdlog.h>

namespace kairos::daemon {

namespace {
/// Pages (4 KiB) added to the WAL after which a checkpoint starts.
constexpr int kCheckpointPages = 1000;
/// Write buffers larger than this (entries) are freed after use, not kept for the next batch.
constexpr std::size_t kKeptCapacity = 1024;
/// A commit slower than this is logged: firings wait for their rows meanwhile.
constexpr std::int64_t kSlowCommitUs = 500'000;
/// Microseconds since `t0`, kept in `max` if it is the longest yet (one thread writes it).
std::int64_t record_max(std::atomic<std::int64_t>& max, std::chrono::steady_clock::time_point t0) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::steady_clock::now() - t0)
                .count();
  if (us > max.load(std::memory_order_relaxed)) max.store(us, std::memory_order_relaxed);
  return us;
}
}  // namespace

History::History(async::Loop& loop, store::Store& reader, std::unique_ptr<store::Store> writer,
                 std::string db_path)
    : loop_(loop), reader_(reader), writer_(std::move(writer)), db_path_(std::move(db_path)) {
  next_run_id_ = reader_.max_run_id() + 1;
  loop_.set_drained_hook([this] { submit(); });
  // Fails only without file descriptors (eventfd), before any job has run.
  async::must(committed_signal_.init(uv_async_init, loop_.uv(),
                                     [](uv_async_t* a) {
                                       if (a->data) {
                                         auto* h = static_cast<History*>(a->data);
                                         h->resume_waiters(h->committed_.load());
                                       }
                                     }),
              "uv_async_init");
  committed_signal_.get()->data = this;
  // The signal keeps the loop alive only while someone waits for a commit.
  uv_unref(committed_signal_.base());
  async::must(defer_timer_.init(uv_timer_init, loop_.uv()), "uv_timer_init");
  defer_timer_.get()->data = this;
  // Nor does the deferral timer: close() writes what is deferred.
  uv_unref(defer_timer_.base());
  // SQLite's automatic checkpoint would sync the database inside a commit, holding up the
  // runs that wait for it; see after_commit() for what runs instead.
  writer_->on_wal_commit([this](int pages) { wal_pages_ = pages; });
  // The writer takes no signal: SIGCHLD is read from a signalfd on the loop thread, and a
  // thread that did not block it could swallow it. Block everything while creating the
  // thread, which inherits the mask.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  thread_ = std::thread([this] { writer_main(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

History::~History() {
  close();
  // Written after close() (the last coroutines ending at shutdown): the writer is gone, so
  // commit them from here.
  if (!pending_.empty()) commit(pending_);
}

void History::push(Write w) {
  // The drain that follows hands the batch to the writer, even when this write came from a
  // plain libuv callback rather than a resumed coroutine.
  if (pending_.empty()) loop_.request_drain();
  pending_.push_back(std::move(w));
}

void History::defer() {
  if (uv_is_active(defer_timer_.base())) return;
  uv_timer_start(
      defer_timer_.get(),
      [](uv_timer_t* t) {
        if (t->data) static_cast<History*>(t->data)->write_deferred();
      },
      kDeferMs, 0);
}

void History::write_deferred() {
  // Everything at once, whenever it was deferred: one wake-up per kDeferMs at most. A run
  // that started just before still ends, nearly always, without its start being written.
  for (const auto& [id, d] : deferred_starts_) write_start(id, d);
  deferred_starts_.clear();
  for (auto& [job, state] : deferred_states_) push(std::move(state));
  deferred_states_.clear();
  if (defer_timer_.get()) uv_timer_stop(defer_timer_.get());
}

void History::write_start(std::int64_t run_id, const DeferredStart& d) {
  push(SetStatus{run_id, store::RunStatus::running, d.started_at});
  if (d.attempt > 0) {
    store::AttemptRow a;
    a.run_id = run_id;
    a.attempt = d.attempt;
    a.started_at = d.attempt_started_at;
    a.status = store::RunStatus::running;
    push(InsertAttempt{std::move(a)});
  }
}

void History::write_start_now(std::int64_t run_id) {
  if (deferred_starts_.empty()) return;
  auto it = deferred_starts_.find(run_id);
  if (it == deferred_starts_.end()) return;
  write_start(run_id, it->second);
  deferred_starts_.erase(it);
}

void History::start_attempt(std::int64_t run_id, int attempt, store::Millis at) {
  DeferredStart& d = deferred_starts_[run_id];
  if (attempt == 1) d.started_at = at;
  d.attempt = attempt;
  d.attempt_started_at = at;
  // After close() nothing would write it later.
  if (closed_) return write_start_now(run_id);
  defer();
}

void History::put_job_state_soon(store::JobState state) {
  if (closed_) return push(std::move(state));
  // The job's name is copied only the first time in the second.
  deferred_states_.try_emplace(state.job).first->second = std::move(state);
  defer();
}

std::int64_t History::insert_run(store::RunRow row) {
  row.id = next_run_id_++;
  std::int64_t id = row.id;
  push(InsertRun{std::move(row)});
  return id;
}

void History::set_run_status(std::int64_t run_id, store::RunStatus status,
                             std::optional<store::Millis> started_at) {
  write_start_now(run_id);  // in the order they were made
  push(SetStatus{run_id, status, started_at});
}

void History::finish_run(store::RunRow row) {
  // The end says all the start would have: status, started_at (row.started_at).
  if (!deferred_starts_.empty()) deferred_starts_.erase(row.id);
  push(FinishRun{std::move(row)});
}

void History::delete_run(std::int64_t run_id) {
  if (!deferred_starts_.empty()) deferred_starts_.erase(run_id);
  push(DeleteRun{run_id});
}

void History::insert_attempt(store::AttemptRow row) {
  write_start_now(row.run_id);
  push(InsertAttempt{std::move(row)});
}

void History::finish_attempt(store::AttemptRow row) {
  // An upsert: it inserts the attempt's row if its start was never written.
  if (!deferred_starts_.empty()) {
    auto it = deferred_starts_.find(row.run_id);
    if (it != deferred_starts_.end() && it->second.attempt == row.attempt) {
      it->second.attempt = 0;  // the run's `running` stays deferred: a retry may follow
    }
  }
  push(FinishAttempt{std::move(row)});
}

void History::put_job_state(store::JobState state) {
  if (!deferred_states_.empty()) deferred_states_.erase(state.job);  // older than this one
  push(std::move(state));
}

void History::prune(std::int64_t keep_per_job, store::Millis keep_for_ms, store::Millis now,
                    std::int64_t max_delete) {
  push(Prune{keep_per_job, keep_for_ms, now, max_delete});
}

void History::when_committed(std::uint64_t batch, std::function<void()> fn) {
  // After close() nothing is committed until the destructor: nobody may wait for it.
  // (Unsubmitted writes go in the batch the current drain hands over: mark() counts it.)
  if (resumable(batch)) return fn();
  // In batch order; an older mark is rare (taken earlier, awaited later) and goes before
  // the newer ones.
  auto at = waiters_.end();
  while (at != waiters_.begin() && std::prev(at)->batch > batch) --at;
  if (waiters_.empty()) {
    uv_ref(committed_signal_.base());
    // Either the writer sees this flag after its next commit and wakes the loop, or the
    // loop sees that commit here (both stores and loads are sequentially consistent).
    wake_loop_.store(true);
    waiters_.push_back(Waiter{batch, std::move(fn)});
    resume_waiters(committed_.load());
    return;
  }
  waiters_.insert(at, Waiter{batch, std::move(fn)});
}

void History::submit() {
  if (pending_.empty() || closed_) return;
  {
    std::lock_guard lock(mu_);
    if (inbox_.empty()) {
      inbox_.swap(pending_);  // the writer left its emptied buffer here: no allocation
    } else {
      for (auto& w : pending_) inbox_.push_back(std::move(w));
    }
    inbox_batch_ = ++submitted_;
  }
  pending_.clear();
  if (pending_.capacity() > kKeptCapacity) std::vector<Write>().swap(pending_);
  work_.notify_one();
}

void History::resume_waiters(std::uint64_t upto) {
  // A waiter may write and wait again: each is taken off the queue before it runs.
  while (!waiters_.empty() && waiters_.front().batch <= upto) {
    auto fn = std::move(waiters_.front().fn);
    waiters_.pop_front();
    if (waiters_.empty()) {
      wake_loop_.store(false);
      if (committed_signal_.get()) uv_unref(committed_signal_.base());
    }
    fn();
  }
}

void History::flush() {
  if (closed_) return;
  write_deferred();
  submit();
  {
    std::unique_lock lock(mu_);
    done_.wait(lock, [&] { return committed_ >= submitted_; });
  }
  resume_waiters(committed_.load());
}

void History::close() {
  if (closed_) return;
  flush();
  closed_ = true;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  work_.notify_one();
  checkpoint_work_.notify_one();
  thread_.join();
  if (checkpointer_.joinable()) checkpointer_.join();
  loop_.set_drained_hook(nullptr);
  // Nothing can be committed any more: whoever still waits goes on (shutdown).
  resume_waiters(std::numeric_limits<std::uint64_t>::max());
  committed_signal_.close();
  defer_timer_.close();
}

void History::writer_main() {
  std::vector<Write> batch;
  for (;;) {
    std::uint64_t number = 0;
    {
      std::unique_lock lock(mu_);
      work_.wait(lock, [&] { return !inbox_.empty() || stop_; });
      if (inbox_.empty()) return;  // stopping, and everything is committed
      batch.swap(inbox_);
      number = inbox_batch_;
    }
    commit(batch);
    batch.clear();  // the rows' memory is freed here, not on the loop
    // The buffer goes back to the loop (swapped with inbox_): keep it small after a big
    // batch (10,000 job states at start-up would otherwise pin megabytes).
    if (batch.capacity() > kKeptCapacity) std::vector<Write>().swap(batch);
    {
      std::lock_guard lock(mu_);
      committed_.store(number);
    }
    done_.notify_all();
    if (wake_loop_.load()) uv_async_send(committed_signal_.get());
    after_commit();
  }
}

void History::after_commit() {
  Checkpoint state;
  {
    std::lock_guard lock(mu_);
    state = checkpoint_;
    if (state == Checkpoint::done) checkpoint_ = Checkpoint::idle;
  }
  if (state == Checkpoint::done) {
    // The checkpoint thread copied the WAL as it stood when it began; copy what was
    // committed since (a few batches) while nothing writes, so the next commit starts the
    // WAL over. A failure (another process checkpointing) only postpones that.
    std::string error;
    auto t0 = std::chrono::steady_clock::now();
    if (!writer_->checkpoint(&error)) spdlog::debug("history: checkpoint catch-up: {}", error);
    record_max(max_catch_up_us_, t0);
    return;
  }
  // The WAL started over when its size went down.
  if (wal_pages_ < wal_pages_at_checkpoint_) wal_pages_at_checkpoint_ = 0;
  if (state != Checkpoint::idle || wal_pages_ - wal_pages_at_checkpoint_ < kCheckpointPages)
    return;
  wal_pages_at_checkpoint_ = wal_pages_;
  {
    std::lock_guard lock(mu_);
    checkpoint_ = Checkpoint::wanted;
  }
  if (!checkpointer_.joinable()) {
    // Like the writer, it takes no signal (created with every signal blocked).
    checkpointer_ = std::thread([this] { checkpointer_main(); });
  } else {
    checkpoint_work_.notify_one();
  }
}

void History::checkpointer_main() {
  std::string error;
  auto db = store::Store::open(db_path_, &error);
  if (!db) spdlog::warn("history: checkpoints are off: {}", error);
  for (;;) {
    {
      std::unique_lock lock(mu_);
      checkpoint_work_.wait(lock, [&] { return checkpoint_ == Checkpoint::wanted || stop_; });
      if (stop_) return;
    }
    auto t0 = std::chrono::steady_clock::now();
    // PASSIVE: never blocks the writer nor waits for readers.
    bool ok = db && db->checkpoint(&error);
    if (ok) {
      checkpoints_.fetch_add(1, std::memory_order_relaxed);
      record_max(max_checkpoint_us_, t0);
    } else if (db) {
      spdlog::warn("history: checkpoint failed: {}", error);
    }
    std::lock_guard lock(mu_);
    checkpoint_ = ok ? Checkpoint::done : Checkpoint::idle;
  }
}

void History::commit(std::vector<Write>& batch) {
  auto t0 = std::chrono::steady_clock::now();
  try {
    store::Store::Transaction tx(*writer_);
    // One bad write (a caller's bug breaking a constraint) must not cost the batch: SQLite
    // undoes only the failed statement, and the rest is committed.
    for (auto& w : batch) {
      try {
        apply(w);
      } catch (const store::Error& e) {
        spdlog::error("history: a write failed and is lost: {}", e.what());
      }
    }
  } catch (const std::exception& e) {
    // The store rolled back; the daemon keeps running, and the loss is loud.
    spdlog::error("history: commit failed, {} write(s) lost: {}", batch.size(), e.what());
    return;
  }
  commits_.fetch_add(1, std::memory_order_relaxed);
  auto us = record_max(max_commit_us_, t0);
  if (us > kSlowCommitUs)
    spdlog::warn("history: a commit took {} ms (slow disk?); runs wait for their rows meanwhile",
                 us / 1000);
}

void History::apply(Write& w) {
  std::visit(
      [this](auto& op) {
        using T = std::decay_t<decltype(op)>;
        auto& s = *writer_;
        if constexpr (std::is_same_v<T, InsertRun>) s.insert_run(op.row);
        else if constexpr (std::is_same_v<T, FinishRun>) s.finish_run(op.row);
        else if constexpr (std::is_same_v<T, SetStatus>)
          s.set_run_status(op.run_id, op.status, op.started_at);
        else if constexpr (std::is_same_v<T, DeleteRun>) s.delete_run(op.run_id);
        else if constexpr (std::is_same_v<T, InsertAttempt>) s.insert_attempt(op.row);
        else if constexpr (std::is_same_v<T, FinishAttempt>) s.finish_attempt(op.row);
        else if constexpr (std::is_same_v<T, store::JobState>) s.put_job_state(op);
        else {
          auto n = s.prune(op.keep_per_job, op.keep_for_ms, op.now, op.max_delete);
          if (n > 0) spdlog::debug("history: pruned {} old run(s)", n);
        }
      },
      w);
}

}  // namespace kairos::daemon

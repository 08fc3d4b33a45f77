#include "store/store.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <array>
#include <string>
#include <utility>

#include "store/schema.h"
#include "store/statement.h"
#include "store/words.h"

namespace kairos::store {

using detail::Connection;
using detail::Statement;

namespace {

// How long a write waits for a lock held by someone else (a user running a write
// transaction in sqlite3) before failing with Error. In WAL mode readers never block us, so
// this only matters for concurrent writers; it bounds how long one write can stall the loop.
constexpr int kBusyTimeoutMs = 2000;

// After a checkpoint, truncate the WAL file back to this size, so one large burst (a prune
// of a big history) does not leave a huge -wal file behind for good.
constexpr const char* kJournalSizeLimit = "PRAGMA journal_size_limit = 16777216";

constexpr const char* kRunColumns =
    R"(id, job, "trigger", scheduled_at, started_at, finished_at, status, attempts, exit_code,)"
    R"( signal, error, missed_count, missed_until)";

/// A stored word read back; a word kairos does not know (written by hand) reads as the
/// nearest neutral one rather than failing the whole query.
RunStatus status_at(const Statement::Use& q, int col) {
  return parse_run_status(q.bytes(col)).value_or(RunStatus::interrupted);
}

RunRow read_run(const Statement::Use& q) {
  RunRow r;
  r.id = q.int64(0);
  r.job = q.bytes(1);
  r.trigger = parse_trigger(q.bytes(2)).value_or(Trigger::manual);
  r.scheduled_at = q.opt_int64(3);
  r.started_at = q.opt_int64(4);
  r.finished_at = q.opt_int64(5);
  r.status = status_at(q, 6);
  r.attempts = q.int64(7);
  r.exit_code = q.opt_int64(8);
  r.signal = q.opt_int64(9);
  r.error = q.bytes(10);
  r.missed_count = q.int64(11);
  r.missed_until = q.opt_int64(12);
  return r;
}

std::string runs_select(const std::string& tail) {
  return std::string("SELECT ") + kRunColumns + " FROM runs " + tail;
}

/// "('a','b')": an SQL list of stored words.
template <class Word>
std::string sql_list(std::initializer_list<Word> words) {
  std::string out = "(";
  for (Word w : words) out.append(out.size() > 1 ? ",'" : "'").append(to_string(w)).append("'");
  return out + ")";
}

/// Statuses that end a run, plus the two that never start one. Pruning only deletes these:
/// a queued or running row is one the daemon is about to update.
std::string done_statuses() {
  std::string out = "(";
  for (int i = 0; i < kRunStatusCount; ++i) {
    auto s = static_cast<RunStatus>(i);
    if (is_final(s)) out.append(out.size() > 1 ? ",'" : "'").append(to_string(s)).append("'");
  }
  return out + ")";
}

}  // namespace

struct Store::Impl {
  explicit Impl(Connection c) : db(std::move(c)) {
    sqlite3* h = db.get();
    auto prep = [h](std::string sql) { return Statement::deferred(h, std::move(sql)); };
    // Once per loop turn each: prepared, not parsed every time by sqlite3_exec.
    begin_tx = prep("BEGIN IMMEDIATE");
    commit_tx = prep("COMMIT");
    insert_run = prep(
        R"(INSERT INTO runs(job, "trigger", scheduled_at, started_at, finished_at, status,
             attempts, exit_code, signal, error, missed_count, missed_until, id)
           VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13))");
    set_run_status =
        prep("UPDATE runs SET status = ?2, started_at = coalesce(?3, started_at) WHERE id = ?1");
    delete_run = prep("DELETE FROM runs WHERE id = ?1");
    finish_run = prep(
        R"(UPDATE runs SET status = ?2, started_at = coalesce(?3, started_at), finished_at = ?4,
             attempts = ?5, exit_code = ?6, signal = ?7, error = ?8 WHERE id = ?1)");
    insert_attempt = prep(
        R"(INSERT INTO attempts(run_id, attempt, started_at, finished_at, status, exit_code,
             signal, output, output_truncated, error)
           VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10))");
    // An upsert, so an attempt whose start was never recorded still gets its result.
    finish_attempt = prep(
        R"(INSERT INTO attempts(run_id, attempt, started_at, finished_at, status, exit_code,
             signal, output, output_truncated, error)
           VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
           ON CONFLICT(run_id, attempt) DO UPDATE SET
             started_at = coalesce(excluded.started_at, attempts.started_at),
             finished_at = excluded.finished_at, status = excluded.status,
             exit_code = excluded.exit_code, signal = excluded.signal, output = excluded.output,
             output_truncated = excluded.output_truncated, error = excluded.error)");
    put_job_state = prep(
        R"(INSERT INTO job_state(job, anchor, last_fired, paused) VALUES(?1, ?2, ?3, ?4)
           ON CONFLICT(job) DO UPDATE SET anchor = excluded.anchor,
             last_fired = excluded.last_fired, paused = excluded.paused)");
    get_job_state = prep("SELECT job, anchor, last_fired, paused FROM job_state WHERE job = ?1");
    get_run = prep(runs_select("WHERE id = ?1"));
    get_attempts = prep(
        R"(SELECT run_id, attempt, started_at, finished_at, status, exit_code, signal, output,
             output_truncated, error FROM attempts WHERE run_id = ?1 ORDER BY attempt)");
    last_result = prep(
        runs_select("WHERE job = ?1 AND status NOT IN " +
                    sql_list({RunStatus::skipped, RunStatus::missed, RunStatus::queued,
                              RunStatus::running}) +
                    " ORDER BY id DESC LIMIT 1"));
    // A missed row's last firing is missed_until, not scheduled_at. The newest row, found
    // through runs_job_id at once, rather than the max over every row of the job.
    last_scheduled = prep(
        R"(SELECT coalesce(missed_until, scheduled_at) FROM runs WHERE job = ?1 AND "trigger" <> ')" +
        std::string(to_string(Trigger::manual)) + "' ORDER BY id DESC LIMIT 1");
    // Only attempts of active runs: goes through the attempts primary key instead of
    // scanning every attempt ever kept. An active attempt always belongs to an active run.
    const std::string active = sql_list({RunStatus::running, RunStatus::queued});
    const std::string interrupted(to_string(RunStatus::interrupted));
    recover_attempts = prep("UPDATE attempts SET status = '" + interrupted +
                            "', finished_at = coalesce(finished_at, ?1), error = ?2 "
                            "WHERE status IN " + active +
                            " AND run_id IN (SELECT id FROM runs WHERE status IN " + active + ")");
    recover_runs = prep("UPDATE runs SET status = '" + interrupted +
                        "', finished_at = ?1, error = ?2 WHERE status IN " + active);
    // Per-job pruning walks the distinct jobs through runs_job_id (one seek per job)
    // rather than SELECT DISTINCT over every row.
    first_job = prep("SELECT job FROM runs ORDER BY job LIMIT 1");
    next_job = prep("SELECT job FROM runs WHERE job > ?1 ORDER BY job LIMIT 1");
    nth_newest = prep("SELECT id FROM runs WHERE job = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2");
    // The subqueries carry the LIMIT (DELETE ... LIMIT needs a compile-time option).
    prune_job = prep(std::string("DELETE FROM runs WHERE id IN (SELECT id FROM runs ") +
                     "WHERE job = ?1 AND id < ?2 AND status IN " + done_statuses() +
                     " ORDER BY id LIMIT ?3)");
    // `status IN (...)` lets SQLite range-scan runs_status_time once per status.
    prune_age = prep(std::string("DELETE FROM runs WHERE id IN (SELECT id FROM runs ") +
                     "WHERE status IN " + done_statuses() +
                     " AND coalesce(scheduled_at, started_at) < ?1 LIMIT ?2)");
  }

  Statement& history_statement(unsigned mask) {
    Statement& st = history[mask];
    if (!st) {
      std::string where = "WHERE 1";
      if (mask & 1U) where += " AND job = ?1";
      if (mask & 2U) where += " AND status = ?2";
      // The same expression as runs_status_time, so the index applies.
      if (mask & 4U) where += " AND coalesce(scheduled_at, started_at) >= ?3";
      st = Statement(db.get(), runs_select(where + " ORDER BY id DESC LIMIT ?4"));
    }
    return st;
  }

  void rollback_now() noexcept {
    if (sqlite3_get_autocommit(db.get())) return;  // SQLite already rolled back (I/O error)
    char* err = nullptr;
    if (sqlite3_exec(db.get(), "ROLLBACK", nullptr, nullptr, &err) != SQLITE_OK) {
      spdlog::error("history: ROLLBACK failed: {}", err != nullptr ? err : "?");
    }
    sqlite3_free(err);
  }

  // Declared first so it is destroyed last: sqlite3_close needs every statement finalized.
  Connection db;
  Statement delete_run, begin_tx, commit_tx;
  Statement insert_run, set_run_status, finish_run, insert_attempt, finish_attempt, put_job_state,
      get_job_state, get_run, get_attempts, last_result, last_scheduled, recover_attempts,
      recover_runs, first_job, next_job, nth_newest, prune_job, prune_age;
  // history() variants by filter mask (job=1, status=2, since=4), prepared on first use.
  std::array<Statement, 8> history;

  /// Every statement above but BEGIN and COMMIT, which run every loop turn (keep the list
  /// next to the members).
  template <typename F>
  void each_statement(F f) {
    for (Statement* st : {&delete_run, &insert_run, &set_run_status, &finish_run, &insert_attempt,
                          &finish_attempt, &put_job_state, &get_job_state, &get_run,
                          &get_attempts, &last_result, &last_scheduled, &recover_attempts,
                          &recover_runs, &first_job, &next_job, &nth_newest, &prune_job,
                          &prune_age})
      f(*st);
    for (Statement& st : history) f(st);
  }
  int depth = 0;
  std::function<void(int)> wal_hook;
  bool doomed = false;  // an inner level rolled back: the outermost must not commit
};

std::unique_ptr<Store> Store::open(const std::string& path, std::string* error) {
  auto fail = [&](const std::string& msg) {
    if (error != nullptr) *error = path + ": " + msg;
    return nullptr;
  };
  // No bulk page-cache allocation at the first page: SQLite's default (PCACHE_INITSZ=20)
  // mallocs and touches 20 page slots per connection up front. Only valid before
  // SQLite initializes; later calls return SQLITE_MISUSE and change nothing.
  static const int no_bulk = sqlite3_config(SQLITE_CONFIG_PAGECACHE, nullptr, 0, 0);
  (void)no_bulk;
  sqlite3* raw = nullptr;
  // NOMUTEX: each connection is used by one thread (the daemon reads through one on its
  // loop and writes through one on its history thread). SQLite opens every file with
  // O_CLOEXEC on Linux, so spawned jobs never inherit the database fds (tested).
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  Connection db(raw);
  if (rc != SQLITE_OK) return fail(raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
  try {
    sqlite3_extended_result_codes(raw, 1);
    sqlite3_busy_timeout(raw, kBusyTimeoutMs);
    db.exec("PRAGMA foreign_keys = ON");
    {
      // journal_mode answers with the mode in effect, which stays "delete" where WAL is
      // impossible (e.g. some network file systems); we promise WAL, so refuse.
      Statement st(raw, "PRAGMA journal_mode = WAL");
      auto q = st.use();
      std::string mode = q.step() ? q.bytes(0) : "";
      if (mode != "wal") return fail("cannot switch to WAL journal mode (got \"" + mode + "\")");
    }
    // WAL + NORMAL: a commit survives a crash of the process (kill -9); after a power loss
    // the last transactions before the latest checkpoint may be lost, never corrupted.
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec(kJournalSizeLimit);
    std::string msg;
    if (!detail::migrate(db, &msg)) return fail(msg);
    if (!detail::virtual_tables_usable(db, &msg)) return fail(msg);
    auto impl = std::make_unique<Impl>(std::move(db));
    return std::unique_ptr<Store>(new Store(std::move(impl)));
  } catch (const Error& e) {
    return fail(e.what());
  }
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

void Store::on_wal_commit(std::function<void(int)> hook) {
  impl_->wal_hook = std::move(hook);
  // sqlite3_wal_hook replaces the automatic checkpoint's own hook.
  sqlite3_wal_hook(
      impl_->db.get(),
      [](void* arg, sqlite3*, const char*, int pages) {
        auto* impl = static_cast<Impl*>(arg);
        if (impl->wal_hook) impl->wal_hook(pages);
        return SQLITE_OK;
      },
      impl_.get());
}

bool Store::checkpoint(std::string* error) {
  int log = 0, done = 0;
  sqlite3* raw = impl_->db.get();
  int rc = sqlite3_wal_checkpoint_v2(raw, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
  if (rc == SQLITE_OK && log < 0) rc = SQLITE_ERROR;  // not in WAL mode
  if (rc != SQLITE_OK && error != nullptr) *error = sqlite3_errmsg(raw);
  return rc == SQLITE_OK;
}

Store::~Store() {
  if (impl_ && impl_->depth > 0) {
    spdlog::warn("history: store closed inside a transaction; rolling it back");
    impl_->rollback_now();
  }
}

std::int64_t Store::recover_interrupted(Millis now) {
  Transaction tx(*this);
  impl_->recover_attempts.use().bind(1, now).bind_text(2, kInterruptedError).run();
  return impl_->recover_runs.use().bind(1, now).bind_text(2, kInterruptedError).run();
}

std::int64_t Store::insert_run(const RunRow& row) {
  auto q = impl_->insert_run.use();
  q.bind_text(1, row.job)
      .bind_text(2, to_string(row.trigger))
      .bind(3, row.scheduled_at)
      .bind(4, row.started_at)
      .bind(5, row.finished_at)
      .bind_text(6, to_string(row.status))
      .bind(7, row.attempts)
      .bind(8, row.exit_code)
      .bind(9, row.signal)
      .bind_text(10, row.error, /*empty_is_null=*/true)
      .bind(11, row.missed_count)
      .bind(12, row.missed_until)
      .bind(13, row.id != 0 ? std::optional<std::int64_t>(row.id) : std::nullopt)
      .run();
  return sqlite3_last_insert_rowid(impl_->db.get());
}

void Store::set_run_status(std::int64_t run_id, RunStatus status,
                           std::optional<Millis> started_at) {
  auto q = impl_->set_run_status.use();
  if (q.bind(1, run_id).bind_text(2, to_string(status)).bind(3, started_at).run() == 0) {
    spdlog::warn("history: set_run_status: no run {}", run_id);
  }
}

void Store::finish_run(const RunRow& row) {
  auto q = impl_->finish_run.use();
  q.bind(1, row.id)
      .bind_text(2, to_string(row.status))
      .bind(3, row.started_at)
      .bind(4, row.finished_at)
      .bind(5, row.attempts)
      .bind(6, row.exit_code)
      .bind(7, row.signal)
      .bind_text(8, row.error, /*empty_is_null=*/true);
  if (q.run() == 0) spdlog::warn("history: finish_run: no run {}", row.id);
}

void Store::delete_run(std::int64_t run_id) { impl_->delete_run.use().bind(1, run_id).run(); }

namespace {
void bind_attempt(Statement::Use& q, const AttemptRow& row, bool with_output) {
  q.bind(1, row.run_id)
      .bind(2, row.attempt)
      .bind(3, row.started_at)
      .bind(4, row.finished_at)
      .bind_text(5, to_string(row.status))
      .bind(6, row.exit_code)
      .bind(7, row.signal)
      .bind(9, std::int64_t{row.output_truncated ? 1 : 0})
      .bind_text(10, row.error, /*empty_is_null=*/true);
  // Output is NULL until the attempt has ended; then a BLOB (bytes as the job wrote them,
  // not necessarily UTF-8), possibly empty.
  if (with_output || !row.output.empty()) {
    q.bind_blob(8, row.output);
  } else {
    q.bind_null(8);
  }
}
}  // namespace

void Store::insert_attempt(const AttemptRow& row) {
  auto q = impl_->insert_attempt.use();
  bind_attempt(q, row, /*with_output=*/false);
  q.run();
}

void Store::finish_attempt(const AttemptRow& row) {
  auto q = impl_->finish_attempt.use();
  bind_attempt(q, row, /*with_output=*/true);
  q.run();
}

void Store::put_job_state(const JobState& state) {
  auto q = impl_->put_job_state.use();
  q.bind_text(1, state.job)
      .bind(2, state.anchor)
      .bind(3, state.last_fired)
      .bind(4, std::int64_t{state.paused ? 1 : 0})
      .run();
}

std::int64_t Store::prune(std::int64_t keep_per_job, Millis keep_for_ms, Millis now,
                          std::int64_t max_delete) {
  Transaction tx(*this);
  std::int64_t deleted = 0;
  if (keep_for_ms > 0 && max_delete > 0) {
    deleted += impl_->prune_age.use().bind(1, now - keep_for_ms).bind(2, max_delete).run();
  }
  if (keep_per_job > 0 && deleted < max_delete) {
    std::optional<std::string> job;
    {
      auto q = impl_->first_job.use();
      if (q.step()) job = q.bytes(0);
    }
    while (job && deleted < max_delete) {
      std::optional<std::int64_t> oldest_kept;
      {
        auto q = impl_->nth_newest.use();
        q.bind_text(1, *job).bind(2, keep_per_job - 1);
        if (q.step()) oldest_kept = q.int64(0);
      }
      if (oldest_kept) {
        auto q = impl_->prune_job.use();
        deleted += q.bind_text(1, *job).bind(2, *oldest_kept).bind(3, max_delete - deleted).run();
      }
      auto q = impl_->next_job.use();
      q.bind_text(1, *job);
      job = q.step() ? std::optional<std::string>(q.bytes(0)) : std::nullopt;
    }
  }
  return deleted;
}

std::optional<JobState> Store::job_state(const std::string& job) {
  auto q = impl_->get_job_state.use();
  q.bind_text(1, job);
  if (!q.step()) return std::nullopt;
  JobState s;
  s.job = q.bytes(0);
  s.anchor = q.opt_int64(1);
  s.last_fired = q.opt_int64(2);
  s.paused = q.int64(3) != 0;
  return s;
}

std::optional<RunRow> Store::run(std::int64_t run_id) {
  auto q = impl_->get_run.use();
  q.bind(1, run_id);
  if (!q.step()) return std::nullopt;
  return read_run(q);
}

std::vector<RunRow> Store::history(const HistoryFilter& filter) {
  unsigned mask = (filter.job ? 1U : 0U) | (filter.status ? 2U : 0U) | (filter.since ? 4U : 0U);
  auto q = impl_->history_statement(mask).use();
  if (filter.job) q.bind_text(1, *filter.job);
  if (filter.status) q.bind_text(2, to_string(*filter.status));
  if (filter.since) q.bind(3, *filter.since);
  q.bind(4, filter.limit < 1 ? std::int64_t{1} : filter.limit);
  std::vector<RunRow> out;
  while (q.step()) out.push_back(read_run(q));
  return out;
}

std::vector<AttemptRow> Store::attempts(std::int64_t run_id) {
  auto q = impl_->get_attempts.use();
  q.bind(1, run_id);
  std::vector<AttemptRow> out;
  while (q.step()) {
    AttemptRow a;
    a.run_id = q.int64(0);
    a.attempt = q.int64(1);
    a.started_at = q.opt_int64(2);
    a.finished_at = q.opt_int64(3);
    a.status = status_at(q, 4);
    a.exit_code = q.opt_int64(5);
    a.signal = q.opt_int64(6);
    a.output = q.bytes(7);
    a.output_truncated = q.int64(8) != 0;
    a.error = q.bytes(9);
    out.push_back(std::move(a));
  }
  return out;
}

std::optional<RunRow> Store::last_result(const std::string& job) {
  auto q = impl_->last_result.use();
  q.bind_text(1, job);
  if (!q.step()) return std::nullopt;
  return read_run(q);
}

std::optional<Millis> Store::last_scheduled(const std::string& job) {
  auto q = impl_->last_scheduled.use();
  q.bind_text(1, job);
  return q.step() ? q.opt_int64(0) : std::nullopt;
}

std::int64_t Store::max_run_id() {
  Statement st(impl_->db.get(), "SELECT coalesce(max(id), 0) FROM runs");
  auto q = st.use();
  return q.step() ? q.int64(0) : 0;
}

void Store::release_memory() {
  impl_->each_statement([](Statement& st) { st.release(); });
  sqlite3_db_release_memory(impl_->db.get());
}

void Store::begin() {
  if (impl_->depth == 0) {
    impl_->begin_tx.use().run();  // throws (depth unchanged) if the lock is not had
    impl_->doomed = false;
  }
  ++impl_->depth;
}

void Store::commit() {
  Impl& s = *impl_;
  if (s.depth == 0) throw Error("history: commit() without begin()", SQLITE_MISUSE);
  if (--s.depth > 0) return;
  if (s.doomed) {
    s.doomed = false;
    s.rollback_now();
    throw Error("history: transaction rolled back because an inner level was abandoned",
                SQLITE_ABORT);
  }
  try {
    s.commit_tx.use().run();
  } catch (const Error&) {
    // A failed COMMIT (disk full, I/O error) can leave the transaction open; end it so the
    // connection is usable again, then report.
    s.rollback_now();
    throw;
  }
}

void Store::rollback() noexcept {
  Impl& s = *impl_;
  if (s.depth == 0) return;
  if (--s.depth > 0) {
    s.doomed = true;
    return;
  }
  s.doomed = false;
  s.rollback_now();
}

int Store::transaction_depth() const {
  return impl_->depth;
}

}  // namespace kairos::store

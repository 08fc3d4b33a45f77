#include "daemon/ledger.h"

#include <malloc.h>

#include <algorithm>
#include <limits>

#include <spdlog/spdlog.h>

namespace kairos::daemon {

using namespace std::chrono;

namespace {
/// A scheduled firing's row is written this long before its instant, so that at the instant
/// only the spawn is left; the lead absorbs a disk that stalls a commit (or the catch-up
/// after a checkpoint) for tens of milliseconds without delaying the firing.
constexpr Millis kWriteAheadLead = 50;
/// ...rounded down to this grid, so the firings of one 10 ms slot have their rows written in
/// one wake-up and one commit.
constexpr Millis kWriteAheadGrid = 10;
/// Pruning: every kPruneEvery finished runs, delete at most kPruneSlice old ones, so the
/// history stays bounded without a long delete on the writer.
constexpr std::uint64_t kPruneEvery = 500;
constexpr std::int64_t kPruneSlice = 1000;

Millis floor_to(Millis t, Millis grid) {
  Millis r = t % grid;
  return r < 0 ? t - r - grid : t - r;
}

async::Clock::TimePoint to_tp(Millis t) {
  return async::Clock::TimePoint(duration_cast<nanoseconds>(milliseconds(t)));
}
}  // namespace

RunLedger::RunLedger(async::Loop& loop, async::Clock& clock, store::Store& reader,
                     std::unique_ptr<store::Store> writer, std::string db_path)
    : clock_(clock), reader_(reader), history_(loop, reader, std::move(writer), std::move(db_path)) {
  idle_.set();
}

RunLedger::~RunLedger() = default;

async::Clock::TimePoint RunLedger::wake_at(const Firing& f) const {
  // First the moment to write the row ahead (in the past if the instant is too close: the
  // loop then wakes at once), then the instant itself.
  return to_tp(f.reserved ? f.due : floor_to(f.due - kWriteAheadLead, kWriteAheadGrid));
}

bool RunLedger::woke(Firing& f, const Job& job) {
  if (!f.reserved) {
    f.reserved = insert_queued(job.name(), Trigger::schedule, f.due);
    f.batch = history_.mark();
    reserved_[f.reserved] = Reservation{job.name(), f.due, std::nullopt};
  }
  return clock_.now_ms() >= f.due;
}

void RunLedger::release(Firing& f) {
  if (!f.reserved) return;
  reserved_.erase(f.reserved);
  history_.delete_run(f.reserved);  // it never stood for a run
  f.reserved = 0;
}

std::int64_t RunLedger::insert_queued(const std::string& job, Trigger trigger,
                                      Millis scheduled_at) {
  store::RunRow row;
  row.job = job;
  row.trigger = trigger;
  row.scheduled_at = scheduled_at;
  row.status = RunStatus::queued;
  return history_.insert_run(std::move(row));
}

std::shared_ptr<Run> RunLedger::open(const std::shared_ptr<Job>& job, Trigger trigger,
                                     Millis scheduled_at, std::int64_t reserved) {
  Entry e;
  if (reserved) {
    auto it = reserved_.find(reserved);
    std::optional<std::string> cancelled;
    if (it != reserved_.end()) {
      cancelled = std::move(it->second.cancelled);
      reserved_.erase(it);
    }
    if (cancelled) {
      record_not_started(*job, trigger, scheduled_at, RunStatus::cancelled, *cancelled, reserved);
      return nullptr;
    }
  }
  auto run = std::make_shared<Run>();
  run->job = job;
  run->spec = job->spec;
  run->identity = job->identity;
  run->trigger = trigger;
  run->scheduled_at = scheduled_at;
  if (reserved) {
    run->id = reserved;
  } else {
    run->id = insert_queued(job->name(), trigger, scheduled_at);
    e.row_batch = history_.mark();
  }
  e.run = run;
  runs_[run->id] = std::move(e);
  job->active.push_back(run);
  idle_.reset();
  // At info a run shows up when it starts (or waits): one line less per run.
  spdlog::debug("job={} run={} fired (trigger={})", job->name(), run->id, to_string(trigger));
  return run;
}

std::int64_t RunLedger::record_not_started(const Job& job, Trigger trigger, Millis scheduled_at,
                                           RunStatus status, const std::string& why,
                                           std::int64_t reserved) {
  store::RunRow row;
  row.id = reserved;
  row.job = job.name();
  row.trigger = trigger;
  row.scheduled_at = scheduled_at;
  row.finished_at = clock_.now_ms();
  row.status = status;
  row.error = why;
  std::int64_t id = reserved;
  if (reserved) {
    // Cancelled before its instant: that is what became of it, whatever else would have.
    if (auto it = reserved_.find(reserved); it != reserved_.end() && it->second.cancelled) {
      row.status = status = RunStatus::cancelled;
      row.error = *it->second.cancelled;
    }
    reserved_.erase(reserved);
    history_.finish_run(row);
  } else {
    id = history_.insert_run(row);
  }
  spdlog::info("job={} run={} {}: {}", job.name(), id,
               status == RunStatus::cancelled ? "cancelled before it started" : to_string(status),
               row.error);
  return id;
}

std::int64_t RunLedger::record_missed(const Job& job, const schedule::Missed& m) {
  store::RunRow row;
  row.job = job.name();
  row.trigger = Trigger::schedule;
  row.scheduled_at = m.first;
  row.finished_at = clock_.now_ms();
  row.status = RunStatus::missed;
  row.missed_count = m.count;
  row.missed_until = m.last;
  row.error = std::to_string(m.count) + " firing(s) missed while kairosd was not running";
  return history_.insert_run(std::move(row));
}

Task<void> RunLedger::durable(const Run& run) {
  auto it = runs_.find(run.id);
  if (it == runs_.end() || it->second.row_batch == 0) co_return;
  co_await history_.durable(it->second.row_batch);
  if ((it = runs_.find(run.id)) != runs_.end()) it->second.row_batch = 0;
}

void RunLedger::attempt_started(Run& run, int n) {
  Millis now = clock_.now_ms();
  run.phase = RunPhase::running;
  run.attempts = n;
  if (n == 1) run.started_at = now;
  run.attempt_started_at = now;
  // Written with the attempt's end if that comes soon enough (after a crash the run is
  // `interrupted` either way).
  history_.start_attempt(run.id, n, now);
}

void RunLedger::requeued(Run& run) {
  if (run.phase == RunPhase::queued) return;
  run.phase = RunPhase::queued;
  // Every run's row is inserted `queued`: only a retry (the row says `running`) changes it.
  if (run.attempts > 0) history_.set_run_status(run.id, RunStatus::queued, std::nullopt);
}

void RunLedger::attempt_finished(const Run&, store::AttemptRow row) {
  history_.finish_attempt(std::move(row));
}

void RunLedger::finish(Run& run, store::RunRow row) {
  history_.finish_run(row);
  run.phase = RunPhase::finished;
  run.result = std::move(row);
  auto keep = run.job;  // the run may hold the last reference to its job
  auto& act = run.job->active;
  act.erase(std::remove_if(act.begin(), act.end(), [&](const auto& r) { return r.get() == &run; }),
            act.end());
  runs_.erase(run.id);
  if (runs_.empty()) idle_.set();
  if (++finished_since_prune_ >= kPruneEvery) {
    finished_since_prune_ = 0;
    history_.prune(retention_.keep_per_job, retention_.keep_for.count(), clock_.now_ms(),
                   kPruneSlice);
  }
}

RunLedger::Cancel RunLedger::cancel(std::int64_t id, const std::string& reason) {
  if (auto run = find(id)) {
    run->request_cancel(reason);
    return Cancel::requested;
  }
  if (auto it = reserved_.find(id); it != reserved_.end()) {
    if (!it->second.cancelled) {
      it->second.cancelled = reason;
      spdlog::info("job={} run={} cancel requested before it started: {}", it->second.job, id,
                   reason);
    }
    return Cancel::requested;
  }
  // Not live: ended, or never was. The history knows which.
  return reader_.run(id) ? Cancel::ended : Cancel::unknown;
}

std::vector<std::int64_t> RunLedger::cancel_job(const Job& job, const std::string& reason) {
  std::vector<std::int64_t> ids;
  for (auto& r : std::vector<std::shared_ptr<Run>>(job.active)) {
    if (r->phase == RunPhase::finished) continue;
    r->request_cancel(reason);
    ids.push_back(r->id);
  }
  for (auto& [id, res] : reserved_)
    if (res.job == job.name() && cancel(id, reason) == Cancel::requested) ids.push_back(id);
  return ids;
}

void RunLedger::cancel_all(const std::string& reason) {
  for (auto& r : active()) r->request_cancel(reason);
}

std::shared_ptr<Run> RunLedger::find(std::int64_t id) const {
  auto it = runs_.find(id);
  return it == runs_.end() ? nullptr : it->second.run;
}

std::vector<std::shared_ptr<Run>> RunLedger::active() const {
  std::vector<std::shared_ptr<Run>> out;
  out.reserve(runs_.size());
  for (const auto& [id, e] : runs_) out.push_back(e.run);
  return out;
}

store::RunRow RunLedger::now(store::RunRow row) const {
  if (row.finished_at) return row;
  if (auto live = find(row.id)) return live->row();
  if (reserved_.count(row.id)) row.status = RunStatus::queued;
  return row;
}

Task<void> RunLedger::caught_up() {
  // The database learns of what the loop wrote a moment later: a client that has just seen a
  // run end must find it there.
  if (!history_.settled()) co_await history_.durable();
}

Task<std::optional<store::RunRow>> RunLedger::run(std::int64_t id) {
  co_await caught_up();
  auto row = reader_.run(id);
  if (!row) co_return std::nullopt;
  co_return now(std::move(*row));
}

Task<std::vector<store::RunRow>> RunLedger::history(store::HistoryFilter f) {
  std::vector<store::RunRow> out;
  if (f.status && !store::is_final(*f.status)) {
    // Only active runs have these, and the live view knows them best (a run's start reaches
    // the database late): newest first.
    auto live = active();
    for (auto it = live.rbegin(); it != live.rend() && std::ssize(out) < f.limit; ++it) {
      auto row = (*it)->row();
      auto at = row.scheduled_at ? row.scheduled_at : row.started_at;
      if (row.status != *f.status || (f.job && row.job != *f.job) ||
          (f.since && (!at || *at < *f.since)))
        continue;
      out.push_back(std::move(row));
    }
    co_return out;
  }
  co_await caught_up();
  for (auto& row : reader_.history(f)) out.push_back(now(std::move(row)));
  co_return out;
}

Task<std::optional<RunLedger::Logs>> RunLedger::logs(std::int64_t id) {
  co_await caught_up();
  auto row = reader_.run(id);
  if (!row) co_return std::nullopt;
  Logs l;
  l.run = now(std::move(*row));
  l.attempts = reader_.attempts(id);
  auto live = find(id);
  if (live && live->phase == RunPhase::running &&
      (l.attempts.empty() || l.attempts.back().attempt < live->attempts)) {
    // The attempt under way, whose row may not be written yet.
    store::AttemptRow a;
    a.run_id = id;
    a.attempt = live->attempts;
    a.started_at = live->attempt_started_at;
    a.status = RunStatus::running;
    l.attempts.push_back(std::move(a));
  }
  co_return l;
}

Task<std::vector<std::optional<store::RunRow>>> RunLedger::last_results(
    std::vector<std::string> jobs) {
  co_await caught_up();
  std::vector<std::optional<store::RunRow>> out;
  out.reserve(jobs.size());
  for (const auto& j : jobs) out.push_back(reader_.last_result(j));
  co_return out;
}

std::optional<store::JobState> RunLedger::job_state(const std::string& job) {
  return reader_.job_state(job);
}

std::optional<Millis> RunLedger::last_scheduled(const std::string& job) {
  // A job's state after a firing is written late; the firing's own row, written before
  // it, is the newer record after a crash.
  auto last = reader_.last_scheduled(job);
  auto st = reader_.job_state(job);
  if (st && st->last_fired) last = std::max(*st->last_fired, last.value_or(*st->last_fired));
  return last;
}

void RunLedger::save_job_state(store::JobState state, bool soon) {
  if (soon) history_.put_job_state_soon(std::move(state));
  else history_.put_job_state(std::move(state));
}

void RunLedger::flush_and_trim() {
  // Loading a configuration built a yaml-cpp tree several times the size of what the jobs
  // keep, and glibc keeps freed pages in the heap: commit what is pending, drop the read
  // connection's cache, and hand the memory back.
  history_.flush();
  reader_.release_memory();
  ::malloc_trim(0);
}

void RunLedger::close() {
  history_.close();
  spdlog::info("history: {} commits, the longest took {} µs; {} checkpoints, the longest "
               "took {} µs (its tail on the writer: {} µs at most)",
               history_.commits(), history_.max_commit_us(), history_.checkpoints(),
               history_.max_checkpoint_us(), history_.max_catch_up_us());
}

}  // namespace kairos::daemon

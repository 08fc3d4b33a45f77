#include "daemon/scheduler.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <limits>
#include <random>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "config/describe.h"

namespace kairos::daemon {

using namespace std::chrono;

namespace {

/// A firing later than this behind its instant is treated as missed (catch-up policy),
/// not fired late: it means the daemon was down, stopped, or the clock jumped.
constexpr Millis kLateGrace = 1000;
/// Enumeration bound when counting firings of calendar schedules.
constexpr std::int64_t kCountCap = 1'000'000;
/// A scheduled firing's run row is written this long before its instant, so that at the
/// instant only the spawn is left (the row must be committed before the process exists).
/// The history thread commits it meanwhile; the lead absorbs a disk that stalls a commit
/// (or the catch-up after a checkpoint) for tens of milliseconds without delaying the firing.
constexpr Millis kPrewriteLead = 50;
/// ...rounded down to this grid, so the firings of one 10 ms slot have their rows written in
/// one wake-up and one commit (with 1,000 jobs spread over a second: 100 wake-ups, not 1,000).
constexpr Millis kPrewriteGrid = 10;
/// History pruning: every kPruneEvery finished runs, delete at most kPruneSlice old ones.
constexpr std::uint64_t kPruneEvery = 500;
constexpr std::int64_t kPruneSlice = 1000;

Millis floor_to(Millis t, Millis grid) {
  Millis r = t % grid;
  return r < 0 ? t - r - grid : t - r;
}

async::WallTimer::TimePoint to_tp(Millis t) {
  return async::WallTimer::TimePoint(duration_cast<nanoseconds>(milliseconds(t)));
}

std::mt19937_64& rng() {
  static std::mt19937_64 r{std::random_device{}()};
  return r;
}

}  // namespace

Identity resolve_identity(const config::JobSpec& spec) {
  Identity id;
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (spec.user.empty()) {
    if (::getpwuid_r(::geteuid(), &pw, buf.data(), buf.size(), &found) == 0 && found) {
      id.user = pw.pw_name;
      id.home = pw.pw_dir;
      id.shell = pw.pw_shell;
    } else {
      id.user = std::to_string(::geteuid());
      id.home = "/";
      id.shell = "/bin/sh";
    }
  } else {
    if (::getpwnam_r(spec.user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found)
      throw std::runtime_error("user '" + spec.user + "' does not exist");
    id.uid = pw.pw_uid;
    id.gid = pw.pw_gid;
    id.user = pw.pw_name;
    id.home = pw.pw_dir;
    id.shell = pw.pw_shell;
  }
  if (!spec.group.empty()) {
    group gr{};
    group* g = nullptr;
    std::vector<char> gbuf(16384);
    if (::getgrnam_r(spec.group.c_str(), &gr, gbuf.data(), gbuf.size(), &g) != 0 || !g)
      throw std::runtime_error("group '" + spec.group + "' does not exist");
    id.gid = gr.gr_gid;
    if (!id.uid) id.uid = ::geteuid();
  }
  if (id.shell.empty()) id.shell = "/bin/sh";
  return id;
}

/// The identities of one configuration's jobs, resolved once per distinct user and group
/// and shared: one passwd lookup and one copy whether 1 or 10,000 jobs run as that account.
class IdentityCache {
 public:
  std::shared_ptr<const Identity> get(const config::JobSpec& spec) {
    auto& id = known_[{spec.user, spec.group}];
    if (!id) id = std::make_shared<const Identity>(resolve_identity(spec));
    return id;
  }

 private:
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const Identity>> known_;
};

Scheduler::Scheduler(async::WallTimer& wall, History& history, Runner& runner,
                     async::AsyncScope& scope)
    : wall_(wall), history_(history), runner_(runner), scope_(scope) {
  idle_.set();
  runner_.set_on_finished([this](Run& r) { on_run_finished(r); });
}

std::shared_ptr<Job> Scheduler::make_job(const config::JobSpec& spec, Millis now,
                                         const std::shared_ptr<Job>& previous,
                                         IdentityCache& identities) {
  std::optional<store::JobState> st;
  if (!previous) st = history_.read().job_state(spec.name);
  Millis anchor = previous                    ? previous->planner.anchor()
                  : (st && st->anchor)        ? *st->anchor
                                              : now;
  auto def = std::make_shared<const config::JobSpec>(spec);
  // The planner reads the schedule inside the job's definition rather than a copy of it.
  std::shared_ptr<const config::Schedule> schedule(def, &def->schedule);
  auto job = std::make_shared<Job>(def, Planner(std::move(schedule), now, anchor),
                                   identities.get(spec));
  if (previous) {
    job->paused = previous->paused;
    job->cursor = previous->cursor;
    job->active = previous->active;
    for (auto& r : job->active) r->job = job;
  } else {
    job->paused = st && st->paused;
    // The state after a firing is written up to a second late (History::kDeferMs); the
    // firing's row, written before it, is the newer record after a crash.
    std::optional<Millis> last = history_.read().last_scheduled(spec.name);
    if (st && st->last_fired) last = std::max(*st->last_fired, last.value_or(*st->last_fired));
    if (last) {
      job->cursor = *last;  // firings after it and before now are catch-up candidates
    } else if (spec.schedule.kind == config::ScheduleKind::at) {
      // A new one-shot whose instant has passed: that firing was missed.
      job->cursor = std::numeric_limits<Millis>::min() / 2;
    } else {
      job->cursor = now;
    }
  }
  if (spec.schedule.kind == config::ScheduleKind::after) job->cursor = now - 1;
  save_state(*job);
  return job;
}

void Scheduler::save_state(const Job& job, bool soon) {
  store::JobState s;
  s.job = job.name();
  s.anchor = job.planner.anchor();
  if (job.cursor > std::numeric_limits<Millis>::min() / 2) s.last_fired = job.cursor;
  s.paused = job.paused;
  if (soon) history_.put_job_state_soon(std::move(s));
  else history_.put_job_state(std::move(s));
}

void Scheduler::start(const config::Config& cfg) {
  retention_ = cfg.daemon.history;
  Millis now = now_ms();
  IdentityCache identities;
  for (const auto& spec : cfg.jobs) {
    auto job = make_job(spec, now, nullptr, identities);
    jobs_[job->name()] = job;
    order_.push_back(job);
  }
  for (auto& job : order_) launch(job);
}

void Scheduler::launch(const std::shared_ptr<Job>& job) {
  if (!firing_) return;
  job->loop_done.reset();
  scope_.spawn(job_loop(job));
}

Task<void> Scheduler::job_loop(std::shared_ptr<Job> job) {
  auto stop = job->stop.token();
  const bool interval = job->spec->schedule.kind == config::ScheduleKind::every;
  while (!stop.requested() && job->spec->enabled) {
    Millis now = now_ms();
    if (interval && job->cursor > now) job->cursor = now;  // the clock went back
    auto next = job->planner.next_after(job->cursor);
    if (!next) {
      job->finished = true;
      break;
    }
    if (*next + kLateGrace < now) {
      job->cursor = catch_up(job, job->cursor, now);
      save_state(*job);
      continue;
    }
    Millis due = *next;
    if (interval && job->spec->schedule.jitter.count() > 0) {
      due += std::uniform_int_distribution<Millis>(0, job->spec->schedule.jitter.count())(rng());
    }
    job->next_fire = due;
    auto why = async::WakeReason::reached;
    std::int64_t pre = 0;
    std::uint64_t pre_batch = 0;
    // Two sleeps: until the lead time (then write the row), then until the instant. One
    // co_await serves both: every sleeping job holds this frame, and each awaiter written
    // out would add its own slot to it (136 bytes; 1.3 MiB with 10,000 jobs).
    for (bool lead = true;; lead = false) {
      Millis until = lead ? floor_to(due - kPrewriteLead, kPrewriteGrid) : due;
      if (!lead || until > now_ms()) why = co_await wall_.sleep_until(to_tp(until), stop);
      if (!lead || why != async::WakeReason::reached || job->paused || !firing_) break;
      pre = insert_queued(*job, due, "schedule");
      pre_batch = history_.mark();
    }
    // The row must be on disk before the process exists. Its commit was nearly always done
    // long before the instant: then nothing waits, and the history thread had no reason to
    // wake the loop for it. Only a disk slower than the lead time holds the firing here.
    if (pre && why == async::WakeReason::reached) co_await history_.durable(pre_batch);
    if (pre && (why != async::WakeReason::reached || job->paused || !firing_ ||
                stop.requested())) {
      // The firing did not happen after all: its row never stood for a run.
      history_.delete_run(pre);
      cancelled_ahead_.erase(pre);
      pre = 0;
      if (why == async::WakeReason::reached) why = async::WakeReason::cancelled;
    }
    if (why == async::WakeReason::cancelled) {
      if (!stop.requested()) {  // paused during the lead time: the firing is skipped
        job->cursor = *next;
        save_state(*job);
        continue;
      }
      break;
    }
    if (why == async::WakeReason::clock_changed) {
      // Every job wakes at once: one line for all of them, not one per job.
      Millis t = now_ms();
      if (t - last_clock_log_ > 1000) {
        spdlog::info("wall clock changed; re-planning {} job(s)", order_.size());
        last_clock_log_ = t;
      }
      continue;
    }
    job->cursor = *next;
    // (No local of this loop may hold the cancel's reason: every sleeping job's frame
    // would carry it.)
    if (pre && !end_if_cancelled_ahead(*job, due, pre)) fire(job, due, "schedule", pre);
    save_state(*job, /*soon=*/true);
  }
  job->next_fire.reset();
  job->loop_done.set();
}

void Scheduler::fire(const std::shared_ptr<Job>& job, Millis scheduled_at,
                     const std::string& trigger, std::int64_t prewritten) {
  (void)admit(job, scheduled_at, trigger, false, true, prewritten);
}

std::int64_t Scheduler::insert_queued(const Job& job, Millis scheduled_at,
                                      const std::string& trigger) {
  store::RunRow row;
  row.job = job.name();
  row.trigger = trigger;
  row.scheduled_at = scheduled_at;
  row.status = "queued";
  return history_.insert_run(row);
}

std::variant<std::shared_ptr<Run>, Refusal> Scheduler::admit(const std::shared_ptr<Job>& job,
                                                             Millis scheduled_at,
                                                             const std::string& trigger,
                                                             bool force, bool record_skip,
                                                             std::int64_t prewritten) {
  const auto& spec = *job->spec;
  auto refuse = [&](std::string why, std::int64_t blocking) -> Refusal {
    if (record_skip)
      record_not_started(*job, scheduled_at, trigger, "skipped", "skipped", why, prewritten);
    return Refusal{std::move(why), blocking};
  };
  std::shared_ptr<Run> predecessor;
  if (!force && !job->active.empty()) {
    const auto& newest = job->active.back();
    switch (spec.concurrency) {
      case config::Overlap::allow:
        if (static_cast<int>(job->active.size()) >= std::max(1, spec.max_instances))
          return refuse("max_instances (" + std::to_string(spec.max_instances) +
                            ") runs already active, newest is run " + std::to_string(newest->id),
                        newest->id);
        break;
      case config::Overlap::forbid:
        return refuse("run " + std::to_string(newest->id) +
                          " is still active and the overlap policy is forbid",
                      newest->id);
      case config::Overlap::replace:
        for (auto& r : std::vector<std::shared_ptr<Run>>(job->active)) {
          r->cancel_reason = "replaced by a newer run (overlap policy replace)";
          r->cancel.request();
        }
        break;
      case config::Overlap::queue: {
        for (const auto& r : job->active) {
          if (r->predecessor)
            return refuse("coalesced into queued run " + std::to_string(r->id), r->id);
        }
        predecessor = newest;
        break;
      }
    }
  }
  auto run = begin_run(job, scheduled_at, trigger, prewritten);
  run->predecessor = std::move(predecessor);
  runner_.start(run);
  return run;
}

std::shared_ptr<Run> Scheduler::begin_run(const std::shared_ptr<Job>& job, Millis scheduled_at,
                                          const std::string& trigger, std::int64_t prewritten) {
  auto run = std::make_shared<Run>();
  run->job = job;
  run->spec = job->spec;
  run->identity = job->identity;
  run->trigger = trigger;
  run->scheduled_at = scheduled_at;
  if (prewritten) {
    run->id = prewritten;
    run->row_durable = true;
  } else {
    run->id = insert_queued(*job, scheduled_at, trigger);
  }
  runs_[run->id] = run;
  job->active.push_back(run);
  idle_.reset();
  // At info a run shows up when it starts (or waits): one line less per run.
  spdlog::debug("job={} run={} fired (trigger={})", job->name(), run->id, trigger);
  return run;
}

void Scheduler::record_not_started(const Job& job, Millis scheduled_at,
                                   const std::string& trigger, const char* status,
                                   const char* said, const std::string& why,
                                   std::int64_t prewritten) {
  store::RunRow row;
  row.id = prewritten;
  row.job = job.name();
  row.trigger = trigger;
  row.scheduled_at = scheduled_at;
  row.finished_at = now_ms();
  row.status = status;
  row.error = why;
  std::int64_t id = prewritten;
  if (prewritten) history_.finish_run(row);
  else id = history_.insert_run(row);
  spdlog::info("job={} run={} {}: {}", job.name(), id, said, why);
}

bool Scheduler::end_if_cancelled_ahead(const Job& job, Millis scheduled_at, std::int64_t id) {
  auto it = cancelled_ahead_.find(id);
  if (it == cancelled_ahead_.end()) return false;
  std::string why = std::move(it->second);
  cancelled_ahead_.erase(it);
  record_not_started(job, scheduled_at, "schedule", "cancelled", "cancelled before it started",
                     why, id);
  return true;
}

bool Scheduler::cancel_ahead(const store::RunRow& row, const std::string& reason) {
  // A firing written ahead: its row says `queued` and its job sleeps until that instant.
  if (row.status != "queued" || row.trigger != "schedule") return false;
  auto job = find(row.job);
  if (!job || job->next_fire != row.scheduled_at) return false;
  if (cancelled_ahead_.emplace(row.id, reason).second)
    spdlog::info("job={} run={} cancel requested before it started: {}", job->name(), row.id,
                 reason);
  return true;
}

void Scheduler::on_run_finished(Run& run) {
  auto self = runs_.find(run.id);
  std::shared_ptr<Run> keep = self != runs_.end() ? self->second : nullptr;
  if (self != runs_.end()) runs_.erase(self);
  auto& act = run.job->active;
  act.erase(std::remove_if(act.begin(), act.end(), [&](const auto& r) { return r.get() == &run; }),
            act.end());
  if (runs_.empty()) idle_.set();
  // Keep the history bounded while running, a slice at a time so the loop never stalls
  // (deleting costs tens of µs per run).
  if (++finished_since_prune_ >= kPruneEvery) {
    finished_since_prune_ = 0;
    history_.prune(retention_.keep_per_job, retention_.keep_for.count(), now_ms(), kPruneSlice);
  }
}

Millis Scheduler::catch_up(const std::shared_ptr<Job>& job, Millis from, Millis to) {
  const auto& spec = *job->spec;
  Millis first = 0, last = 0;
  std::int64_t n = job->planner.count_between(from, to, kCountCap, &first, &last);
  if (n == 0) return to;
  Millis oldest_ok = spec.catch_up.max_age.count() > 0 ? to - spec.catch_up.max_age.count()
                                                       : std::numeric_limits<Millis>::min();
  std::vector<Millis> to_run;
  if (spec.catch_up.policy == config::CatchUpPolicy::last && last >= oldest_ok) {
    to_run.push_back(last);
  } else if (spec.catch_up.policy == config::CatchUpPolicy::all) {
    // The newest kMaxCatchUpRuns eligible firings, oldest first.
    Millis lo = spec.catch_up.max_age.count() > 0 ? std::max(from, oldest_ok - 1) : from;
    std::deque<Millis> keep;
    Millis t = lo;
    if (spec.schedule.kind == config::ScheduleKind::every) {
      Millis p = spec.schedule.every.count();
      t = std::max(lo, last - kMaxCatchUpRuns * p);
    }
    for (std::int64_t i = 0; i < kCountCap; ++i) {
      auto next = job->planner.next_after(t);
      if (!next || *next > to) break;
      keep.push_back(*next);
      if (static_cast<std::int64_t>(keep.size()) > kMaxCatchUpRuns) keep.pop_front();
      t = *next;
    }
    to_run.assign(keep.begin(), keep.end());
  }
  std::int64_t missed = n - static_cast<std::int64_t>(to_run.size());
  if (missed > 0) {
    store::RunRow row;
    row.job = job->name();
    row.trigger = "schedule";
    row.scheduled_at = first;
    row.finished_at = now_ms();
    row.status = "missed";
    row.missed_count = missed;
    row.missed_until = to_run.empty() ? last : std::max(first, to_run.front() - 1);
    row.error = std::to_string(missed) + " firing(s) missed while kairosd was not running";
    auto id = history_.insert_run(row);
    spdlog::warn("job={} run={} {} firing(s) missed between {} and {} (catch_up: {})",
                 job->name(), id, missed, format_instant(first, nullptr),
                 format_instant(*row.missed_until, nullptr),
                 config::to_string(spec.catch_up.policy));
  }
  if (!to_run.empty() && !job->paused) {
    if (to_run.size() == 1) (void)admit(job, to_run.front(), "catch_up", false, true);
    else scope_.spawn(catch_up_all(job, std::move(to_run)));
  }
  return last;
}

Task<void> Scheduler::catch_up_all(std::shared_ptr<Job> job, std::vector<Millis> firings) {
  // One after the other, in order, whatever the overlap policy: they are the past.
  auto stop = job->stop.token();
  for (Millis at : firings) {
    if (stop.requested() || !firing_) break;
    auto started = admit(job, at, "catch_up", true, false);
    auto* run = std::get_if<std::shared_ptr<Run>>(&started);
    if (!run) continue;
    auto keep = *run;
    co_await keep->done.wait(stop);
  }
}

ReloadDiff Scheduler::apply(const config::Config& cfg) {
  ReloadDiff d;
  Millis now = now_ms();
  JobMap next;
  std::vector<std::shared_ptr<Job>> order;
  std::vector<std::shared_ptr<Job>> to_launch;
  IdentityCache identities;
  for (const auto& spec : cfg.jobs) {
    auto old = find(spec.name);
    std::shared_ptr<Job> job;
    if (!old) {
      job = make_job(spec, now, nullptr, identities);
      d.added.push_back(spec.name);
      to_launch.push_back(job);
    } else if (*old->spec == spec) {
      job = old;
      d.unchanged.push_back(spec.name);
    } else {
      old->stop.request();
      job = make_job(spec, now, old, identities);
      d.changed.push_back(spec.name);
      to_launch.push_back(job);
    }
    next[job->name()] = job;
    order.push_back(job);
  }
  for (auto& old : order_) {
    if (next.count(old->name())) continue;
    d.removed.push_back(old->name());
    old->removed = true;
    old->stop.request();
    if (cfg.daemon.on_remove == config::OnRemove::cancel) {
      for (auto& r : std::vector<std::shared_ptr<Run>>(old->active)) {
        r->cancel_reason = "job removed from the configuration";
        r->cancel.request();
      }
    }
  }
  jobs_ = std::move(next);
  order_ = std::move(order);
  runner_.set_limits(cfg.daemon.max_concurrent_runs, cfg.pools);
  retention_ = cfg.daemon.history;
  for (auto& job : to_launch) launch(job);
  return d;
}

void Scheduler::stop_firing() {
  firing_ = false;
  for (auto& job : order_) job->stop.request();
}

std::variant<std::shared_ptr<Run>, Refusal> Scheduler::run_now(const std::string& name,
                                                               bool force) {
  auto job = find(name);
  if (!job) return Refusal{"no job named '" + name + "'", 0};
  return admit(job, now_ms(), "manual", force, false);
}

bool Scheduler::cancel_run(std::int64_t id, const std::string& reason) {
  auto run = find_run(id);
  if (!run) {
    auto row = history_.read().run(id);
    return row && cancel_ahead(*row, reason);
  }
  if (run->phase == RunPhase::finished) return false;
  if (!run->cancel.requested()) {
    run->cancel_reason = reason;
    run->cancel.request();
    spdlog::info("job={} run={} cancel requested: {}", run->spec->name, id, reason);
  }
  return true;
}

std::vector<std::int64_t> Scheduler::cancel_job(const std::string& name,
                                                const std::string& reason) {
  std::vector<std::int64_t> ids;
  auto job = find(name);
  if (!job) return ids;
  for (auto& r : std::vector<std::shared_ptr<Run>>(job->active))
    if (cancel_run(r->id, reason)) ids.push_back(r->id);
  // A firing written ahead shows as `queued` too: its row is the job's newest queued one.
  if (job->next_fire) {
    store::HistoryFilter f;
    f.job = job->name();
    f.status = "queued";
    f.limit = 1;
    for (const auto& row : history_.read().history(f))
      if (!find_run(row.id) && cancel_ahead(row, reason)) ids.push_back(row.id);
  }
  return ids;
}

void Scheduler::cancel_all(const std::string& reason) {
  std::vector<std::int64_t> ids;
  for (auto& [id, r] : runs_) ids.push_back(id);
  for (auto id : ids) cancel_run(id, reason);
}

std::optional<bool> Scheduler::set_paused(const std::string& name, bool paused) {
  auto job = find(name);
  if (!job) return std::nullopt;
  if (job->paused == paused) return false;
  job->paused = paused;
  save_state(*job);
  spdlog::info("job={} {}", name, paused ? "paused" : "resumed");
  return true;
}

std::shared_ptr<Job> Scheduler::find(const std::string& name) const {
  auto it = jobs_.find(name);
  return it == jobs_.end() ? nullptr : it->second;
}

std::shared_ptr<Run> Scheduler::find_run(std::int64_t id) const {
  auto it = runs_.find(id);
  return it == runs_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<Run>> Scheduler::active() const {
  std::vector<std::shared_ptr<Run>> out;
  for (auto& [id, r] : runs_) out.push_back(r);
  return out;
}

}  // namespace kairos::daemon

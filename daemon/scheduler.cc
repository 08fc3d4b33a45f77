#include "daemon/scheduler.h"

#include <unistd.h>

#include <limits>
#include <random>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "config/accounts.h"
#include "config/describe.h"
#include "schedule/admission.h"
#include "schedule/catch_up.h"

namespace kairos::daemon {

namespace {

/// A firing later than this behind its instant is treated as missed (catch-up policy),
/// not fired late: it means the daemon was down, stopped, or the clock jumped.
constexpr Millis kLateGrace = 1000;
/// The cursor of a new one-shot whose instant has passed: before any instant.
constexpr Millis kLongAgo = std::numeric_limits<Millis>::min() / 2;

std::mt19937_64& rng() {
  static std::mt19937_64 r{std::random_device{}()};
  return r;
}

}  // namespace

Identity resolve_identity(const config::JobSpec& spec) {
  Identity id;
  if (spec.user.empty()) {
    if (auto me = config::find_user(::geteuid())) {
      id.user = me->name;
      id.home = me->home;
      id.shell = me->shell;
    } else {
      id.user = std::to_string(::geteuid());
      id.home = "/";
    }
  } else {
    auto user = config::find_user(spec.user);
    if (!user) throw std::runtime_error("user '" + spec.user + "' does not exist");
    id.uid = user->uid;
    id.gid = user->gid;
    id.user = user->name;
    id.home = user->home;
    id.shell = user->shell;
  }
  if (!spec.group.empty()) {
    auto gid = config::find_group(spec.group);
    if (!gid) throw std::runtime_error("group '" + spec.group + "' does not exist");
    id.gid = *gid;
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

Scheduler::Scheduler(async::Clock& clock, RunLedger& ledger, Runner& runner,
                     async::AsyncScope& scope)
    : clock_(clock), ledger_(ledger), runner_(runner), scope_(scope) {}

std::shared_ptr<Job> Scheduler::make_job(const config::JobSpec& spec, Millis now,
                                         const std::shared_ptr<Job>& previous,
                                         IdentityCache& identities) {
  std::optional<store::JobState> st;
  if (!previous) st = ledger_.job_state(spec.name);
  Millis anchor = previous                    ? previous->planner.anchor()
                  : (st && st->anchor)        ? *st->anchor
                                              : now;
  auto def = std::make_shared<const config::JobSpec>(spec);
  // The planner reads the schedule inside the job's definition rather than a copy of it.
  std::shared_ptr<const config::Schedule> schedule(def, &def->schedule);
  auto job = std::make_shared<Job>(def, schedule::Planner(std::move(schedule), now, anchor),
                                   identities.get(spec));
  if (previous) {
    job->paused = previous->paused;
    job->cursor = previous->cursor;
  } else {
    job->paused = st && st->paused;
    if (auto last = ledger_.last_scheduled(spec.name)) {
      job->cursor = *last;  // firings after it and before now are catch-up candidates
    } else if (spec.schedule.kind == config::ScheduleKind::at) {
      job->cursor = kLongAgo;  // a new one-shot whose instant has passed: that firing was missed
    } else {
      job->cursor = now;
    }
  }
  if (spec.schedule.kind == config::ScheduleKind::after) job->cursor = now - 1;
  return job;
}

void Scheduler::save_state(const Job& job, bool soon) {
  store::JobState s;
  s.job = job.name();
  s.anchor = job.planner.anchor();
  if (job.cursor > kLongAgo) s.last_fired = job.cursor;
  s.paused = job.paused;
  ledger_.save_job_state(std::move(s), soon);
}

void Scheduler::start(const config::Config& cfg) { (void)apply(cfg); }

ReloadDiff Scheduler::apply(const config::Config& cfg) {
  // Phase 1 builds every new job and may throw (a zone or user gone since validation):
  // nothing has changed yet.
  ReloadDiff d;
  Millis now = clock_.now_ms();
  JobMap next;
  std::vector<std::shared_ptr<Job>> order;
  std::vector<std::pair<std::shared_ptr<Job>, std::shared_ptr<Job>>> replaced;  // new, old
  std::vector<std::shared_ptr<Job>> added;
  IdentityCache identities;
  for (const auto& spec : cfg.jobs) {
    auto old = find(spec.name);
    std::shared_ptr<Job> job;
    if (!old) {
      job = make_job(spec, now, nullptr, identities);
      d.added.push_back(spec.name);
      added.push_back(job);
    } else if (*old->spec == spec) {
      job = old;
      d.unchanged.push_back(spec.name);
    } else {
      job = make_job(spec, now, old, identities);
      d.changed.push_back(spec.name);
      replaced.emplace_back(job, old);
    }
    next[job->name()] = job;
    order.push_back(job);
  }
  // Phase 2 commits, and cannot fail.
  for (auto& [job, old] : replaced) {
    old->stop.request();
    // Running runs finish under their old definition, counted as the new job's.
    job->active = old->active;
    for (auto& r : job->active) r->job = job;
  }
  for (auto& old : order_) {
    if (next.count(old->name())) continue;
    d.removed.push_back(old->name());
    old->removed = true;
    old->stop.request();
    if (cfg.daemon.on_remove == config::OnRemove::cancel)
      for (auto& r : std::vector<std::shared_ptr<Run>>(old->active))
        r->request_cancel("job removed from the configuration");
  }
  jobs_ = std::move(next);
  order_ = std::move(order);
  runner_.set_limits(cfg.daemon.max_concurrent_runs, cfg.pools);
  ledger_.set_retention(cfg.daemon.history);
  for (auto& job : added) {
    save_state(*job);
    launch(job);
  }
  for (auto& [job, old] : replaced) {
    save_state(*job);
    launch(job);
  }
  return d;
}

void Scheduler::launch(const std::shared_ptr<Job>& job) {
  if (!firing_) {
    job->loop_done.set();  // no loop will run: loops_ended() must not wait for one
    return;
  }
  job->loop_done.reset();
  scope_.spawn(job_loop(job));
}

Task<void> Scheduler::job_loop(std::shared_ptr<Job> job) {
  auto stop = job->stop.token();
  const bool interval = job->spec->schedule.kind == config::ScheduleKind::every;
  while (!stop.requested() && job->spec->enabled) {
    Millis now = clock_.now_ms();
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
    if (interval && job->spec->schedule.jitter.count() > 0)
      due += std::uniform_int_distribution<Millis>(0, job->spec->schedule.jitter.count())(rng());
    job->next_fire = due;
    // One co_await for every wake-up of the firing: each sleeping job holds this frame, and
    // every awaiter written out would add its own slot to it.
    RunLedger::Firing firing{due};
    auto why = async::WakeReason::reached;
    do {
      why = co_await clock_.sleep_until(ledger_.wake_at(firing), stop);
    } while (why == async::WakeReason::reached && !ledger_.woke(firing, *job));
    if (why == async::WakeReason::reached) co_await ledger_.committed(firing);
    if (why != async::WakeReason::reached || stop.requested()) ledger_.release(firing);
    if (why == async::WakeReason::cancelled || stop.requested()) break;
    if (why == async::WakeReason::clock_changed) {
      // Every job wakes at once: one line for all of them, not one per job.
      Millis t = clock_.now_ms();
      if (t - last_clock_log_ > 1000) {
        spdlog::info("wall clock changed; re-planning {} job(s)", order_.size());
        last_clock_log_ = t;
      }
      continue;
    }
    job->cursor = *next;
    if (job->paused || !firing_) {
      ledger_.release(firing);  // paused meanwhile: the firing is skipped
      save_state(*job);
      continue;
    }
    (void)admit(job, due, Trigger::schedule, false, true, firing.reserved);
    save_state(*job, /*soon=*/true);
  }
  job->next_fire.reset();
  job->loop_done.set();
}

std::variant<std::shared_ptr<Run>, Refusal> Scheduler::admit(const std::shared_ptr<Job>& job,
                                                             Millis scheduled_at,
                                                             Trigger trigger, bool force,
                                                             bool record_refusal,
                                                             std::int64_t reserved) {
  const auto& spec = *job->spec;
  std::vector<schedule::ActiveRun> active;
  active.reserve(job->active.size());
  for (const auto& r : job->active) active.push_back({r->id, r->predecessor != nullptr});
  auto a = schedule::admit(spec.concurrency, spec.max_instances, active, force);
  if (a.action == schedule::Admit::skip) {
    if (record_refusal)
      ledger_.record_not_started(*job, trigger, scheduled_at, RunStatus::skipped, a.reason,
                                 reserved);
    return Refusal{std::move(a.reason), a.blocking_run};
  }
  if (a.action == schedule::Admit::replace)
    for (auto& r : std::vector<std::shared_ptr<Run>>(job->active))
      r->request_cancel("replaced by a newer run (overlap policy replace)");
  std::shared_ptr<Run> predecessor;
  if (a.action == schedule::Admit::queue) predecessor = ledger_.find(a.blocking_run);
  auto run = ledger_.open(job, trigger, scheduled_at, reserved);
  if (!run) return Refusal{"cancelled before it started", 0};
  run->predecessor = std::move(predecessor);
  runner_.start(run);
  return run;
}

Millis Scheduler::catch_up(const std::shared_ptr<Job>& job, Millis from, Millis to) {
  const auto& spec = *job->spec;
  auto plan = schedule::plan_catch_up(job->planner, spec.catch_up, from, to);
  if (plan.missed) {
    auto id = ledger_.record_missed(*job, *plan.missed);
    spdlog::warn("job={} run={} {} firing(s) missed between {} and {} (catch_up: {})",
                 job->name(), id, plan.missed->count,
                 schedule::format_instant(plan.missed->first, nullptr),
                 schedule::format_instant(plan.missed->last, nullptr),
                 config::to_string(spec.catch_up.policy));
  }
  if (!plan.run.empty() && !job->paused) {
    if (plan.run.size() == 1) (void)admit(job, plan.run.front(), Trigger::catch_up, false, true);
    else scope_.spawn(catch_up_all(job, std::move(plan.run)));
  }
  return plan.cursor;
}

Task<void> Scheduler::catch_up_all(std::shared_ptr<Job> job, std::vector<Millis> firings) {
  // One after the other, in order, whatever the overlap policy: they are the past.
  auto stop = job->stop.token();
  for (Millis at : firings) {
    if (stop.requested() || !firing_) break;
    auto started = admit(job, at, Trigger::catch_up, true, false);
    auto* run = std::get_if<std::shared_ptr<Run>>(&started);
    if (!run) continue;
    auto keep = *run;
    co_await keep->done.wait(stop);
  }
}

void Scheduler::stop_firing() {
  firing_ = false;
  for (auto& job : order_) job->stop.request();
}

Task<void> Scheduler::loops_ended() {
  for (const auto& job : order_) co_await job->loop_done.wait();
}

std::variant<std::shared_ptr<Run>, Refusal> Scheduler::run_now(const std::string& name,
                                                               bool force) {
  auto job = find(name);
  if (!job) return Refusal{"no job named '" + name + "'", 0};
  return admit(job, clock_.now_ms(), Trigger::manual, force, false);
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

std::shared_ptr<Job> Scheduler::find(std::string_view name) const {
  auto it = jobs_.find(name);
  return it == jobs_.end() ? nullptr : it->second;
}

}  // namespace kairos::daemon

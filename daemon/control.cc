// The daemon side of the control protocol: Service as ControlHandler.
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "config/describe.h"
#include "daemon/control_server.h"
#include "daemon/service.h"
#include "protocol/errors.h"

namespace kairos::daemon {

namespace p = kairos::protocol;
using nlohmann::json;

namespace {

RpcError error(int code, std::string message, json data = nullptr) {
  return RpcError{code, std::move(message), std::move(data)};
}

RpcError no_such_job(const std::string& name) {
  return error(p::errc::not_found, "no job named '" + name + "' (see `kairosctl list`)");
}

template <class T>
T decoded(const json& params) {
  // The server validated params against the method's type before calling us.
  std::string err;
  auto v = p::decode<T>(params, &err);
  if (!v) throw std::invalid_argument(err);
  return *v;
}

}  // namespace

p::RunInfo Service::run_info(const store::RunRow& r) const {
  p::RunInfo i;
  i.id = r.id;
  i.job = r.job;
  i.trigger = r.trigger;
  i.scheduled_at = r.scheduled_at;
  i.started_at = r.started_at;
  i.finished_at = r.finished_at;
  i.status = r.status;
  i.attempts = static_cast<int>(r.attempts);
  if (r.exit_code) i.exit_code = static_cast<int>(*r.exit_code);
  if (r.signal) i.signal = static_cast<int>(*r.signal);
  i.error = r.error;
  i.missed_count = static_cast<int>(r.missed_count);
  return i;
}

p::RunInfo Service::run_info(const Run& run) const {
  if (run.phase == RunPhase::finished) return run_info(run.result);
  p::RunInfo i;
  i.id = run.id;
  i.job = run.spec->name;
  i.trigger = run.trigger;
  i.scheduled_at = run.scheduled_at;
  if (run.started_at) i.started_at = run.started_at;
  i.status = run.phase == RunPhase::queued ? "queued" : "running";
  i.attempts = run.attempts;
  return i;
}

p::RunInfo Service::run_info_now(const store::RunRow& row) const {
  auto live = row.finished_at ? nullptr : scheduler_->find_run(row.id);
  return live ? run_info(*live) : run_info(row);
}

p::JobSummary Service::job_summary(const Job& job) {
  p::JobSummary s;
  s.name = job.name();
  s.schedule = job.planner.describe();
  s.state = to_string(job.state());
  for (const auto& r : job.active) s.running_runs.push_back(r->id);
  if (auto last = history_->read().last_result(job.name())) s.last = run_info(*last);
  if (!job.paused && job.spec->enabled) s.next_fire = job.next_fire;
  return s;
}

p::JobDetail Service::job_detail(const Job& job) {
  const auto& spec = *job.spec;
  p::JobDetail d;
  d.summary = job_summary(job);
  d.description = spec.description;
  d.command = spec.argv;
  if (spec.is_shell && spec.argv.size() == 3) d.shell = spec.argv[2];
  if (spec.schedule.kind == config::ScheduleKind::cron) d.timezone = spec.schedule.timezone;
  d.working_dir = spec.working_dir;
  d.user = spec.user;
  d.pool = spec.pool;
  d.concurrency = std::string(config::to_string(spec.concurrency));
  d.timeout_ms = spec.timeout.count();
  d.kill_grace_ms = spec.kill_grace.count();
  d.output_limit = spec.output_limit;
  d.retry.attempts = spec.retry.attempts;
  d.retry.backoff_ms = spec.retry.backoff.count();
  d.retry.factor = spec.retry.factor;
  d.retry.max_backoff_ms = spec.retry.max_backoff.count();
  d.retry.jitter = spec.retry.jitter;
  if (spec.retry.on_failure) d.retry.on.push_back("failure");
  if (spec.retry.on_timeout) d.retry.on.push_back("timeout");
  d.catch_up = std::string(config::to_string(spec.catch_up.policy));
  d.catch_up_max_age_ms = spec.catch_up.max_age.count();
  d.enabled = spec.enabled;
  d.source = spec.loc.file.str() + ":" + std::to_string(spec.loc.line) + ":" +
             std::to_string(spec.loc.column);
  Millis t = std::max(now_ms(), job.cursor);
  for (int i = 0; i < 5; ++i) {
    auto n = job.planner.next_after(t);
    if (!n) break;
    d.next_fires.push_back(*n);
    t = *n;
  }
  store::HistoryFilter f;
  f.job = job.name();
  f.limit = 10;
  for (const auto& r : history_->read().history(f)) d.recent_runs.push_back(run_info_now(r));
  return d;
}

p::StatusInfo Service::status_info() {
  p::StatusInfo s;
  s.version = "0.1.0";
  s.pid = ::getpid();
  s.uptime_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - started_)
                    .count();
  s.config_path = options_.config_path;
  s.jobs = static_cast<int>(scheduler_->jobs().size());
  for (const auto& j : scheduler_->jobs()) {
    if (j->paused) ++s.paused;
    if (j->paused || !j->next_fire) continue;
    if (!s.next_fire || *j->next_fire < s.next_fire->at) s.next_fire = p::NextFire{j->name(), *j->next_fire};
  }
  for (const auto& r : scheduler_->active()) {
    if (r->phase == RunPhase::queued) ++s.queued;
    else ++s.running;
    s.running_runs.push_back(run_info(*r));
  }
  return s;
}

Task<void> Service::wait_and_reply(std::shared_ptr<Run> run, Reply reply, Service* self) {
  co_await run->done.wait();
  reply(json(self->run_info(*run)));
}

void Service::run_method(const p::RunParams& params, Reply reply) {
  if (stopping_) return reply(error(p::errc::shutting_down, "kairosd is stopping"));
  auto job = scheduler_->find(params.job);
  if (!job) return reply(no_such_job(params.job));
  auto started = scheduler_->run_now(params.job, params.force);
  if (auto* refused = std::get_if<Refusal>(&started)) {
    json data = {{"job", params.job}, {"run_id", refused->blocking_run}};
    return reply(error(p::errc::conflict,
                       "not started: " + refused->message + " (use --force to start anyway)",
                       std::move(data)));
  }
  auto run = std::get<std::shared_ptr<Run>>(started);
  if (!params.wait) return reply(json(run_info(*run)));
  scope_->spawn(wait_and_reply(run, std::move(reply), this));
}

void Service::handle(const std::string& method, const json& params, const Peer& peer,
                     Reply reply) {
  // These answer from the database, which the history thread fills a moment after the
  // loop writes: a client that has just seen a run end must find it there.
  bool reads_history = method == p::method::list || method == p::method::show ||
                       method == p::method::history || method == p::method::logs ||
                       method == p::method::cancel;
  if (reads_history && !history_->settled()) {
    history_->when_durable([this, method, params, peer, reply = std::move(reply)]() mutable {
      respond(method, params, peer, std::move(reply));
    });
    return;
  }
  respond(method, params, peer, std::move(reply));
}

void Service::respond(const std::string& method, const json& params, const Peer& peer,
                      Reply reply) {
  try {
    if (method == p::method::status) return reply(json(status_info()));
    if (method == p::method::list) {
      p::ListResult r;
      for (const auto& j : scheduler_->jobs()) r.jobs.push_back(job_summary(*j));
      return reply(json(r));
    }
    if (method == p::method::show) {
      auto q = decoded<p::ShowParams>(params);
      auto job = scheduler_->find(q.job);
      if (!job) return reply(no_such_job(q.job));
      return reply(json(job_detail(*job)));
    }
    if (method == p::method::run) return run_method(decoded<p::RunParams>(params), std::move(reply));
    if (method == p::method::cancel) {
      auto q = decoded<p::CancelParams>(params);
      std::string who = "cancelled by kairosctl (uid " + std::to_string(peer.uid) + ")";
      p::CancelResult r;
      if (q.run_id) {
        if (!scheduler_->cancel_run(*q.run_id, who)) {
          auto row = history_->read().run(*q.run_id);
          if (!row) return reply(error(p::errc::not_found, "no run " + std::to_string(*q.run_id)));
          return reply(error(p::errc::invalid_state, "run " + std::to_string(*q.run_id) +
                                                         " already ended (" + row->status + ")"));
        }
        r.cancelled.push_back(*q.run_id);
      } else if (q.job) {
        if (!scheduler_->find(*q.job)) return reply(no_such_job(*q.job));
        r.cancelled = scheduler_->cancel_job(*q.job, who);
      }
      return reply(json(r));
    }
    if (method == p::method::pause || method == p::method::resume) {
      auto q = decoded<p::JobParams>(params);
      auto changed = scheduler_->set_paused(q.job, method == p::method::pause);
      if (!changed) return reply(no_such_job(q.job));
      auto job = scheduler_->find(q.job);
      return reply(json(p::JobStateResult{q.job, to_string(job->state()), *changed}));
    }
    if (method == p::method::history) {
      auto q = decoded<p::HistoryParams>(params);
      store::HistoryFilter f;
      f.job = q.job;
      f.status = q.status;
      f.since = q.since;
      f.limit = q.limit;
      p::HistoryResult r;
      if (q.status && (*q.status == "queued" || *q.status == "running")) {
        // Only active runs have these: the live view answers, newest first. (The database
        // learns of a run's start up to History::kDeferMs late.)
        auto active = scheduler_->active();
        for (auto it = active.rbegin(); it != active.rend() && std::ssize(r.runs) < f.limit; ++it) {
          auto info = run_info(**it);
          auto at = info.scheduled_at ? info.scheduled_at : info.started_at;
          if (info.status != *q.status || (q.job && info.job != *q.job) ||
              (q.since && (!at || *at < *q.since)))
            continue;
          r.runs.push_back(std::move(info));
        }
        return reply(json(r));
      }
      for (const auto& row : history_->read().history(f)) r.runs.push_back(run_info_now(row));
      return reply(json(r));
    }
    if (method == p::method::logs) {
      auto q = decoded<p::LogsParams>(params);
      auto row = history_->read().run(q.run_id);
      if (!row) return reply(error(p::errc::not_found, "no run " + std::to_string(q.run_id)));
      p::LogsResult r;
      r.run = run_info(*row);
      auto live = scheduler_->find_run(q.run_id);
      if (live) {
        auto status = r.run.status;
        r.run = run_info(*live);
        if (live->phase == RunPhase::finished) r.run.status = status;
      }
      for (const auto& a : history_->read().attempts(q.run_id)) {
        p::AttemptInfo i;
        i.run_id = a.run_id;
        i.attempt = static_cast<int>(a.attempt);
        i.started_at = a.started_at;
        i.finished_at = a.finished_at;
        i.status = a.status;
        if (a.exit_code) i.exit_code = static_cast<int>(*a.exit_code);
        if (a.signal) i.signal = static_cast<int>(*a.signal);
        i.output = a.output;
        i.output_truncated = a.output_truncated;
        i.error = a.error;
        r.attempts.push_back(std::move(i));
      }
      if (live && live->phase == RunPhase::running &&
          (r.attempts.empty() || r.attempts.back().attempt < live->attempts)) {
        // The attempt under way, whose row is written up to History::kDeferMs late.
        p::AttemptInfo i;
        i.run_id = live->id;
        i.attempt = live->attempts;
        i.started_at = live->attempt_started_at;
        i.status = "running";
        r.attempts.push_back(std::move(i));
      }
      return reply(json(r));
    }
    if (method == p::method::reload) return reply(json(reload("kairosctl")));
    if (method == p::method::next) {
      auto q = decoded<p::NextParams>(params);
      auto job = scheduler_->find(q.job);
      if (!job) return reply(no_such_job(q.job));
      p::NextResult r;
      r.job = q.job;
      r.timezone = job->planner.zone() ? job->planner.zone()->name() : "UTC";
      Millis t = std::max(now_ms(), job->cursor);
      for (int i = 0; i < q.count; ++i) {
        auto n = job->planner.next_after(t);
        if (!n) break;
        r.fires.push_back(*n);
        t = *n;
      }
      return reply(json(r));
    }
    reply(error(p::errc::method_not_found, "unknown method '" + method + "'"));
  } catch (const std::invalid_argument& e) {
    reply(error(p::errc::invalid_params, e.what()));
  } catch (const std::exception& e) {
    spdlog::error("control: {} failed: {}", method, e.what());
    reply(error(p::errc::internal_error, std::string("internal error: ") + e.what()));
  }
}

}  // namespace kairos::daemon

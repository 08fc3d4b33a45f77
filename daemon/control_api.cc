#include "daemon/control_api.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "config/describe.h"
#include "kairos/version.h"
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

RpcError no_such_run(std::int64_t id) {
  return error(p::errc::not_found, "no run " + std::to_string(id));
}

p::RunInfo run_info(const store::RunRow& r) {
  p::RunInfo i;
  i.id = r.id;
  i.job = r.job;
  i.trigger = std::string(to_string(r.trigger));
  i.scheduled_at = r.scheduled_at;
  i.started_at = r.started_at;
  i.finished_at = r.finished_at;
  i.status = std::string(to_string(r.status));
  i.attempts = static_cast<int>(r.attempts);
  if (r.exit_code) i.exit_code = static_cast<int>(*r.exit_code);
  if (r.signal) i.signal = static_cast<int>(*r.signal);
  i.error = r.error;
  i.missed_count = static_cast<int>(r.missed_count);
  return i;
}

p::AttemptInfo attempt_info(const store::AttemptRow& a) {
  p::AttemptInfo i;
  i.run_id = a.run_id;
  i.attempt = static_cast<int>(a.attempt);
  i.started_at = a.started_at;
  i.finished_at = a.finished_at;
  i.status = std::string(to_string(a.status));
  if (a.exit_code) i.exit_code = static_cast<int>(*a.exit_code);
  if (a.signal) i.signal = static_cast<int>(*a.signal);
  i.output = a.output;
  i.output_truncated = a.output_truncated;
  i.error = a.error;
  return i;
}

p::JobSummary job_summary(const Job& job, const std::optional<store::RunRow>& last) {
  p::JobSummary s;
  s.name = job.name();
  s.schedule = job.planner.describe();
  s.state = to_string(job.state());
  for (const auto& r : job.active) s.running_runs.push_back(r->id);
  if (last) s.last = run_info(*last);
  if (!job.paused && job.spec->enabled) s.next_fire = job.next_fire;
  return s;
}

/// A handler of typed params, as a table entry: decodes (the server validated them before),
/// awaits the handler, encodes its answer.
template <class P, class R>
auto typed(Task<Answer<R>> (ControlApi::*method)(P, const Peer&)) {
  return [method](ControlApi& api, const json& params, const Peer& peer) -> Task<RpcResult> {
    P decoded{};
    if constexpr (!std::is_same_v<P, NoParams>) {
      std::string err;
      auto v = p::decode<P>(params, &err);
      if (!v) co_return RpcError{p::errc::invalid_params, err, nullptr};
      decoded = std::move(*v);
    }
    auto answer = co_await (api.*method)(std::move(decoded), peer);
    if (auto* e = std::get_if<RpcError>(&answer)) co_return std::move(*e);
    co_return json(std::get<R>(std::move(answer)));
  };
}

}  // namespace

ControlApi::ControlApi(async::Clock& clock, async::AsyncScope& scope, Scheduler& scheduler,
                       RunLedger& ledger, Reloader& reloader)
    : clock_(clock), scope_(scope), scheduler_(scheduler), ledger_(ledger), reloader_(reloader) {}

const std::map<std::string_view, ControlApi::Handler>& ControlApi::table() {
  static const std::map<std::string_view, Handler> t = {
      {p::method::status, typed(&ControlApi::status)},
      {p::method::list, typed(&ControlApi::list)},
      {p::method::show, typed(&ControlApi::show)},
      {p::method::run, typed(&ControlApi::run)},
      {p::method::cancel, typed(&ControlApi::cancel)},
      {p::method::pause, typed(&ControlApi::pause)},
      {p::method::resume, typed(&ControlApi::resume)},
      {p::method::history, typed(&ControlApi::history)},
      {p::method::logs, typed(&ControlApi::logs)},
      {p::method::reload, typed(&ControlApi::reload)},
      {p::method::next, typed(&ControlApi::next)},
  };
  return t;
}

void ControlApi::handle(const std::string& method, const json& params, const Peer& peer,
                        Reply reply) {
  auto it = table().find(method);
  if (it == table().end())
    return reply(error(p::errc::method_not_found, "unknown method '" + method + "'"));
  scope_.spawn(serve(it->second, params, peer, std::move(reply)));
}

Task<void> ControlApi::serve(Handler h, json params, Peer peer, Reply reply) {
  RpcResult result;
  try {
    result = co_await h(*this, params, peer);
  } catch (const std::exception& e) {
    spdlog::error("control: a request failed: {}", e.what());
    result = error(p::errc::internal_error, std::string("internal error: ") + e.what());
  }
  reply(std::move(result));
}

Task<Answer<p::StatusInfo>> ControlApi::status(NoParams, const Peer&) {
  p::StatusInfo s;
  s.version = kairos::kVersion;
  s.pid = ::getpid();
  s.uptime_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - started_)
                    .count();
  s.config_path = reloader_.config_path();
  s.jobs = static_cast<int>(scheduler_.jobs().size());
  for (const auto& j : scheduler_.jobs()) {
    if (j->paused) ++s.paused;
    if (j->paused || !j->next_fire) continue;
    if (!s.next_fire || *j->next_fire < s.next_fire->at)
      s.next_fire = p::NextFire{j->name(), *j->next_fire};
  }
  for (const auto& r : ledger_.active()) {
    if (r->phase == RunPhase::queued) ++s.queued;
    else ++s.running;
    s.running_runs.push_back(run_info(r->row()));
  }
  co_return s;
}

Task<Answer<p::ListResult>> ControlApi::list(NoParams, const Peer&) {
  auto jobs = scheduler_.jobs();  // a reload may swap the list while we wait
  std::vector<std::string> names;
  names.reserve(jobs.size());
  for (const auto& j : jobs) names.push_back(j->name());
  auto last = co_await ledger_.last_results(std::move(names));
  p::ListResult r;
  r.jobs.reserve(jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) r.jobs.push_back(job_summary(*jobs[i], last[i]));
  co_return r;
}

std::vector<Millis> ControlApi::next_fires(const Job& job, int count) const {
  std::vector<Millis> out;
  Millis t = std::max(clock_.now_ms(), job.cursor);
  for (int i = 0; i < count; ++i) {
    auto n = job.planner.next_after(t);
    if (!n) break;
    out.push_back(*n);
    t = *n;
  }
  return out;
}

Task<Answer<p::JobDetail>> ControlApi::show(p::ShowParams q, const Peer&) {
  auto job = scheduler_.find(q.job);
  if (!job) co_return no_such_job(q.job);
  store::HistoryFilter f;
  f.job = job->name();
  f.limit = 10;
  auto recent = co_await ledger_.history(f);
  std::vector<std::string> name(1, job->name());
  auto last = co_await ledger_.last_results(std::move(name));
  const auto& spec = *job->spec;
  p::JobDetail d;
  d.summary = job_summary(*job, last.front());
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
  d.next_fires = next_fires(*job, 5);
  for (const auto& r : recent) d.recent_runs.push_back(run_info(r));
  co_return d;
}

Task<Answer<p::RunInfo>> ControlApi::run(p::RunParams q, const Peer&) {
  if (!accepting_runs_) co_return error(p::errc::shutting_down, "kairosd is stopping");
  if (!scheduler_.find(q.job)) co_return no_such_job(q.job);
  auto started = scheduler_.run_now(q.job, q.force);
  if (auto* refused = std::get_if<Refusal>(&started)) {
    json data = {{"job", q.job}, {"run_id", refused->blocking_run}};
    co_return error(p::errc::conflict,
                    "not started: " + refused->message + " (use --force to start anyway)",
                    std::move(data));
  }
  auto run = std::get<std::shared_ptr<Run>>(started);
  if (q.wait) co_await run->done.wait();
  co_return run_info(run->row());
}

Task<Answer<p::CancelResult>> ControlApi::cancel(p::CancelParams q, const Peer& peer) {
  std::string who = "cancelled by kairosctl (uid " + std::to_string(peer.uid) + ")";
  p::CancelResult r;
  if (q.run_id) {
    switch (ledger_.cancel(*q.run_id, who)) {
      case RunLedger::Cancel::requested: r.cancelled.push_back(*q.run_id); break;
      case RunLedger::Cancel::unknown: co_return no_such_run(*q.run_id);
      case RunLedger::Cancel::ended: {
        auto row = co_await ledger_.run(*q.run_id);
        co_return error(p::errc::invalid_state,
                        "run " + std::to_string(*q.run_id) + " already ended (" +
                            std::string(row ? to_string(row->status) : "finished") + ")");
      }
    }
  } else if (q.job) {
    auto job = scheduler_.find(*q.job);
    if (!job) co_return no_such_job(*q.job);
    r.cancelled = ledger_.cancel_job(*job, who);
  }
  co_return r;
}

Answer<p::JobStateResult> ControlApi::set_paused(const std::string& name, bool paused) {
  auto changed = scheduler_.set_paused(name, paused);
  if (!changed) return no_such_job(name);
  auto job = scheduler_.find(name);
  return p::JobStateResult{name, to_string(job->state()), *changed};
}

Task<Answer<p::JobStateResult>> ControlApi::pause(p::JobParams q, const Peer&) {
  co_return set_paused(q.job, true);
}

Task<Answer<p::JobStateResult>> ControlApi::resume(p::JobParams q, const Peer&) {
  co_return set_paused(q.job, false);
}

Task<Answer<p::HistoryResult>> ControlApi::history(p::HistoryParams q, const Peer&) {
  store::HistoryFilter f;
  f.job = q.job;
  if (q.status) {
    f.status = store::parse_run_status(*q.status);
    if (!f.status) co_return error(p::errc::invalid_params, "unknown status '" + *q.status + "'");
  }
  f.since = q.since;
  f.limit = q.limit;
  p::HistoryResult r;
  for (const auto& row : co_await ledger_.history(f)) r.runs.push_back(run_info(row));
  co_return r;
}

Task<Answer<p::LogsResult>> ControlApi::logs(p::LogsParams q, const Peer&) {
  auto l = co_await ledger_.logs(q.run_id);
  if (!l) co_return no_such_run(q.run_id);
  p::LogsResult r;
  r.run = run_info(l->run);
  for (const auto& a : l->attempts) r.attempts.push_back(attempt_info(a));
  co_return r;
}

Task<Answer<p::ReloadResult>> ControlApi::reload(NoParams, const Peer&) {
  co_return co_await reloader_.reload("kairosctl");
}

Task<Answer<p::NextResult>> ControlApi::next(p::NextParams q, const Peer&) {
  auto job = scheduler_.find(q.job);
  if (!job) co_return no_such_job(q.job);
  p::NextResult r;
  r.job = q.job;
  r.timezone = job->planner.zone() ? job->planner.zone()->name() : "UTC";
  r.fires = next_fires(*job, q.count);
  co_return r;
}

}  // namespace kairos::daemon

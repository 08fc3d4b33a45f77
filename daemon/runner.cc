#include "daemon/runner.h"

#include <signal.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "config/loader.h"
#include "schedule/retry.h"

namespace kairos::daemon {

using namespace std::chrono;

namespace {
std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return std::to_string(sig) + (abbrev ? std::string(" (SIG") + abbrev + ")" : std::string());
}
/// The last non-empty line of a job's output, shortened, for the one-line log event.
std::string last_line(const std::string& out) {
  std::size_t end = out.find_last_not_of("\r\n");
  if (end == std::string::npos) return {};
  std::size_t start = out.rfind('\n', end);
  start = start == std::string::npos ? 0 : start + 1;
  std::string line = out.substr(start, end - start + 1);
  if (line.size() > 160) line = line.substr(0, 157) + "...";
  for (char& c : line)
    if (static_cast<unsigned char>(c) < 0x20 && c != '\t') c = '?';
  return line;
}

void log_attempt_end(const Run& run, const store::AttemptRow& a) {
  auto ms = a.finished_at.value_or(0) - a.started_at.value_or(0);
  std::string code = a.exit_code ? " exit=" + std::to_string(*a.exit_code)
                     : a.signal  ? " signal=" + std::to_string(*a.signal)
                                 : std::string();
  auto line = last_line(a.output);
  auto level = a.status == RunStatus::succeeded ? spdlog::level::info : spdlog::level::warn;
  spdlog::log(level, "job={} run={} attempt={} {}{} in {}ms{}{}{}{}", run.spec->name, run.id,
              a.attempt, to_string(a.status), code, ms, a.error.empty() ? "" : ": ", a.error,
              line.empty() ? "" : " | output: ", line);
}

/// An attempt whose command never ran: not found, no child made, or the child failed
/// before execve (its working_dir, execve itself).
AttemptOutcome could_not_start(const Run& run, int n, std::string why) {
  spdlog::warn("job={} run={} attempt={} could not start: {}", run.spec->name, run.id, n, why);
  AttemptOutcome out;
  out.status = RunStatus::failed;
  out.error = std::move(why);
  return out;
}

schedule::AttemptEnd attempt_end(RunStatus s) {
  switch (s) {
    case RunStatus::succeeded: return schedule::AttemptEnd::succeeded;
    case RunStatus::timed_out: return schedule::AttemptEnd::timed_out;
    case RunStatus::cancelled: return schedule::AttemptEnd::cancelled;
    default: return schedule::AttemptEnd::failed;
  }
}

std::shared_ptr<async::Semaphore> slots(int n) {
  return async::Semaphore::create(static_cast<std::size_t>(std::max(1, n)));
}

}  // namespace

Runner::Runner(async::Clock& clock, async::Launcher& launcher, RunLedger& ledger,
               async::AsyncScope& scope, int max_concurrent_runs)
    : clock_(clock),
      launcher_(launcher),
      ledger_(ledger),
      scope_(scope),
      global_(slots(max_concurrent_runs)) {}

void Runner::set_limits(int max_concurrent_runs, const std::map<std::string, int>& pools) {
  global_->resize(static_cast<std::size_t>(std::max(1, max_concurrent_runs)));
  for (const auto& [name, n] : pools) {
    auto it = pools_.find(name);
    if (it == pools_.end()) pools_.emplace(name, slots(n));
    else it->second->resize(static_cast<std::size_t>(std::max(1, n)));
  }
  // A dropped pool's runs still hold it through their permits; new runs cannot name it
  // (the loader checks).
  std::erase_if(pools_, [&](const auto& p) { return !pools.count(p.first); });
}

std::shared_ptr<async::Semaphore> Runner::pool(const std::string& name) const {
  if (name.empty()) return nullptr;
  auto it = pools_.find(name);
  return it == pools_.end() ? nullptr : it->second;
}

void Runner::start(std::shared_ptr<Run> run) { scope_.spawn(execute(std::move(run))); }

std::vector<std::string> Runner::environment(const Run& run, int attempt) {
  // Built straight into "K=V" strings (once per attempt, so no map in between). The
  // job's `env` overrides the base variables (the loader rejects KAIROS_* names in it).
  const auto& spec = *run.spec;
  const auto& id = *run.identity;
  const std::string kairos[][2] = {
      {"KAIROS_JOB", spec.name},
      {"KAIROS_RUN_ID", std::to_string(run.id)},
      {"KAIROS_ATTEMPT", std::to_string(attempt)},
      {"KAIROS_SCHEDULED_AT", schedule::format_instant(run.scheduled_at, nullptr)},
  };
  std::vector<std::string> out;
  out.reserve(5 + spec.env.size() + std::size(kairos));
  auto put = [&](std::string_view k, std::string_view v) {
    std::string& s = out.emplace_back();
    s.reserve(k.size() + 1 + v.size());
    s.append(k).append(1, '=').append(v);
  };
  const std::pair<const char*, const std::string*> base[] = {
      {"PATH", nullptr}, {"HOME", &id.home}, {"USER", &id.user}, {"LOGNAME", &id.user},
      {"SHELL", &id.shell}};
  for (const auto& [k, v] : base) {
    if (spec.env.count(k)) continue;
    put(k, v ? std::string_view(*v) : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  }
  for (const auto& [k, v] : spec.env) put(k, v);
  for (const auto& kv : kairos) put(kv[0], kv[1]);
  return out;
}

Task<void> Runner::execute(std::shared_ptr<Run> run) {
  const auto& spec = *run->spec;
  auto token = run->cancel.token();
  if (run->predecessor) {
    // Overlap `queue`: start when the run ahead of us has ended.
    spdlog::info("job={} run={} queued (trigger={}): waiting for run {} to end", spec.name,
                 run->id, to_string(run->trigger), run->predecessor->id);
    co_await run->predecessor->done.wait(token);
    run->predecessor.reset();
  }
  auto wait_for_slot = [&](const std::string& what) {
    if (run->phase == RunPhase::queued) return;  // said already (or a new run: its row says so)
    spdlog::info("job={} run={} queued (trigger={}): waiting for {}", spec.name, run->id,
                 to_string(run->trigger), what);
    ledger_.requeued(*run);
  };
  AttemptOutcome last;
  bool attempted = false;
  for (int n = 1; !token.requested(); ++n) {
    async::Permit pool_slot, global_slot;
    if (auto p = pool(spec.pool)) {
      pool_slot = p->try_acquire();
      if (!pool_slot) {
        wait_for_slot("a slot in pool " + spec.pool);
        pool_slot = co_await p->acquire(token);
        if (!pool_slot) break;
      }
    }
    global_slot = global_->try_acquire();
    if (!global_slot) {
      wait_for_slot("a slot (daemon.max_concurrent_runs)");
      global_slot = co_await global_->acquire(token);
      if (!global_slot) break;
    }
    ledger_.attempt_started(*run, n);
    store::AttemptRow a;
    a.run_id = run->id;
    a.attempt = n;
    a.started_at = run->attempt_started_at;
    // The run's row must be on disk before the process exists (crash safety).
    co_await ledger_.durable(*run);
    if (token.requested()) {
      // Cancelled while the row was committed: the attempt ends before any process exists.
      a.finished_at = clock_.now_ms();
      a.status = RunStatus::cancelled;
      a.error = run->cancel_reason.empty() ? "cancelled" : run->cancel_reason;
      ledger_.attempt_finished(*run, std::move(a));
      break;
    }
    last = co_await attempt(run.get(), n);
    attempted = true;
    a.finished_at = clock_.now_ms();
    a.status = last.status;
    a.exit_code = last.exit_code;
    a.signal = last.signal;
    a.output = std::move(last.output);
    a.output_truncated = last.output_truncated;
    a.error = last.error;
    log_attempt_end(*run, a);
    ledger_.attempt_finished(*run, std::move(a));
    pool_slot.release();
    global_slot.release();
    auto delay = schedule::next_retry(spec.retry, n, attempt_end(last.status),
                                      std::uniform_real_distribution<double>(0, 1)(rng_));
    if (!delay) break;
    spdlog::info("job={} run={} attempt={} {}; retrying in {}ms", spec.name, run->id, n,
                 to_string(last.status), delay->count());
    run->phase = RunPhase::backoff;
    if (co_await clock_.sleep_for(*delay, token) != async::WakeReason::reached) break;
  }

  store::RunRow row;
  row.id = run->id;
  row.job = spec.name;
  row.trigger = run->trigger;
  row.scheduled_at = run->scheduled_at;
  if (run->started_at) row.started_at = run->started_at;
  row.finished_at = clock_.now_ms();
  row.attempts = run->attempts;
  if (token.requested() && (!attempted || last.status != RunStatus::succeeded)) {
    row.status = RunStatus::cancelled;
    row.error = run->cancel_reason.empty() ? "cancelled" : run->cancel_reason;
  } else {
    row.status = last.status;
    row.error = last.error;
  }
  if (attempted) {
    if (last.exit_code) row.exit_code = *last.exit_code;
    if (last.signal) row.signal = *last.signal;
  }
  // The attempt line already told the story of a single-attempt run.
  if (row.attempts != 1 || row.status == RunStatus::cancelled)
    spdlog::log(row.status == RunStatus::succeeded ? spdlog::level::info : spdlog::level::warn,
                "job={} run={} {} after {} attempt(s){}{}", spec.name, run->id,
                to_string(row.status), row.attempts, row.error.empty() ? "" : ": ", row.error);
  ledger_.finish(*run, std::move(row));
  run->done.set();
}

Task<AttemptOutcome> Runner::attempt(Run* run, int n) {
  const auto& spec = *run->spec;
  const auto& id = *run->identity;
  async::SpawnOptions o;
  o.argv = spec.argv;
  o.env = environment(*run, n);
  o.working_dir = spec.working_dir;
  if (o.working_dir.empty()) {
    // The user's home, or / when it cannot be entered (tried by the child, which spares
    // a stat() per run).
    o.working_dir = id.home.empty() ? "/" : id.home;
    o.fallback_dir = "/";
  }
  o.output_limit = spec.output_limit;
  o.uid = id.uid;
  o.gid = id.gid;

  std::string err;
  auto child = launcher_.spawn(o, &err);
  if (!child) co_return could_not_start(*run, n, std::move(err));
  spdlog::info("job={} run={} attempt={} started pid={} (trigger={})", spec.name, run->id, n,
               child->pid(), to_string(run->trigger));
  // Timeout and cancellation both end in `stop`: SIGTERM to the whole group, then SIGKILL
  // once kill_grace has passed. The alarms live in this frame and are disarmed once the
  // process is reaped, so they can never signal a recycled pid.
  async::Child* c = child.get();
  bool timed_out = false;
  async::CancelSource stop(run->cancel.token());
  std::unique_ptr<async::Clock::Alarm> timeout, kill;
  if (spec.timeout.count() > 0)
    timeout = clock_.alarm_after(spec.timeout, [&] {
      timed_out = true;
      stop.request();
    });
  async::CancelRegistration on_stop(stop.token(), [&] {
    c->signal_group(SIGTERM);
    kill = clock_.alarm_after(spec.kill_grace, [c] { c->signal_group(SIGKILL); });
  });
  auto st = co_await c->wait();
  timeout.reset();
  kill.reset();
  on_stop.reset();

  AttemptOutcome out;
  if (!st.error.empty()) co_return could_not_start(*run, n, st.error);
  if (st.exit_code >= 0) out.exit_code = st.exit_code;
  if (st.signal > 0) out.signal = st.signal;
  if (timed_out) {
    out.status = RunStatus::timed_out;
    out.error = "timed out after " + config::format_duration(spec.timeout);
  } else if (run->cancel.requested()) {
    out.status = RunStatus::cancelled;
    out.error = run->cancel_reason.empty() ? "cancelled" : run->cancel_reason;
  } else if (st.exit_code == 0) {
    out.status = RunStatus::succeeded;
  } else {
    out.status = RunStatus::failed;
    out.error = st.signal > 0 ? "killed by signal " + signal_name(st.signal)
                              : "exit code " + std::to_string(st.exit_code);
  }
  out.output = c->output();
  out.output_truncated = c->output_truncated();
  co_return out;
}

}  // namespace kairos::daemon

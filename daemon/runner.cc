#include "daemon/runner.h"

#include <signal.h>
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <spdlog/spdlog.h>

#include "async/timeout.h"
#include "async/timer.h"
#include "config/loader.h"

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

/// Bench only (bench/load): with KAIROS_BENCH_SPAWN_TRACE=FILE, one line per spawn,
/// "run attempt scheduled_at_ms spawn_begin_ns spawn_end_ns" (CLOCK_REALTIME), buffered and
/// flushed at exit. The history's millisecond columns are too coarse for sub-ms lateness.
std::FILE* spawn_trace() {
  static std::FILE* f = [] {
    const char* path = std::getenv("KAIROS_BENCH_SPAWN_TRACE");
    std::FILE* out = path ? std::fopen(path, "we") : nullptr;
    if (out) std::setvbuf(out, nullptr, _IOFBF, 1 << 20);
    return out;
  }();
  return f;
}

std::int64_t realtime_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void log_attempt_end(const Run& run, const store::AttemptRow& a) {
  auto ms = a.finished_at.value_or(0) - a.started_at.value_or(0);
  std::string code = a.exit_code ? " exit=" + std::to_string(*a.exit_code)
                     : a.signal  ? " signal=" + std::to_string(*a.signal)
                                 : std::string();
  auto line = last_line(a.output);
  auto level = a.status == "succeeded" ? spdlog::level::info : spdlog::level::warn;
  spdlog::log(level, "job={} run={} attempt={} {}{} in {}ms{}{}{}{}", run.spec->name, run.id,
              a.attempt, a.status, code, ms, a.error.empty() ? "" : ": ", a.error,
              line.empty() ? "" : " | output: ", line);
}
/// An attempt whose command never ran: not found, no child made, or the child failed
/// before execve (its working_dir, execve itself).
AttemptOutcome could_not_start(const Run& run, int n, std::string why) {
  spdlog::warn("job={} run={} attempt={} could not start: {}", run.spec->name, run.id, n, why);
  AttemptOutcome out;
  out.status = "failed";
  out.error = std::move(why);
  return out;
}

}  // namespace

std::chrono::milliseconds retry_delay(const config::RetryPolicy& p, int n, double u01) {
  double base = static_cast<double>(p.backoff.count()) * std::pow(p.factor, n - 1);
  base = std::min(base, static_cast<double>(p.max_backoff.count()));
  double j = std::clamp(p.jitter, 0.0, 1.0);
  double scaled = base * (1.0 - j + 2.0 * j * u01);
  return milliseconds(static_cast<std::int64_t>(std::llround(std::max(0.0, scaled))));
}

bool retryable(const config::RetryPolicy& p, const std::string& status) {
  if (status == "failed") return p.on_failure;
  if (status == "timed_out") return p.on_timeout;
  return false;
}

Runner::Runner(async::ProcessManager& processes, History& history, async::AsyncScope& scope,
               int max_concurrent_runs)
    : processes_(processes),
      history_(history),
      scope_(scope),
      global_(static_cast<std::size_t>(std::max(1, max_concurrent_runs))) {}

void Runner::set_limits(int max_concurrent_runs, const std::map<std::string, int>& pools) {
  global_.resize(static_cast<std::size_t>(std::max(1, max_concurrent_runs)));
  for (const auto& [name, slots] : pools) {
    auto n = static_cast<std::size_t>(std::max(1, slots));
    auto it = pools_.find(name);
    if (it == pools_.end()) pools_.emplace(name, std::make_shared<async::Semaphore>(n));
    else it->second->resize(n);
  }
  // A pool dropped from the config stays alive for the runs still holding it
  // (they own a shared_ptr); new runs cannot name it (the loader checks).
  for (auto it = pools_.begin(); it != pools_.end();) {
    if (!pools.count(it->first)) it = pools_.erase(it);
    else ++it;
  }
}

std::shared_ptr<async::Semaphore> Runner::pool(const std::string& name) {
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
      {"KAIROS_SCHEDULED_AT", format_instant(run.scheduled_at, nullptr)},
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

void Runner::mark_queued(Run& run, const std::string& waiting_for) {
  if (run.phase == RunPhase::queued) return;
  run.phase = RunPhase::queued;
  spdlog::info("job={} run={} queued (trigger={}): waiting for {}", run.spec->name, run.id,
               run.trigger, waiting_for);
  // Every run's row is inserted `queued`: only a retry (the row says `running`) changes it.
  if (run.attempts > 0) history_.set_run_status(run.id, "queued", std::nullopt);
}

Task<void> Runner::execute(std::shared_ptr<Run> run) {
  const auto& spec = *run->spec;
  auto token = run->cancel.token();
  if (run->predecessor) {
    // Overlap `queue`: start when the run ahead of us has ended.
    spdlog::info("job={} run={} queued (trigger={}): waiting for run {} to end", spec.name,
                 run->id, run->trigger, run->predecessor->id);
    co_await run->predecessor->done.wait(token);
    run->predecessor.reset();
  }
  AttemptOutcome last;
  bool attempted = false;
  const int max_attempts = std::max(1, spec.retry.attempts);
  for (int n = 1; n <= max_attempts && !token.requested(); ++n) {
    async::Permit pool_slot, global_slot;
    if (auto p = pool(spec.pool)) {
      pool_slot = p->try_acquire();
      if (!pool_slot) {
        mark_queued(*run, "a slot in pool " + spec.pool);
        pool_slot = co_await p->acquire(token);
        if (!pool_slot) break;
      }
    }
    global_slot = global_.try_acquire();
    if (!global_slot) {
      mark_queued(*run, "a slot (daemon.max_concurrent_runs)");
      global_slot = co_await global_.acquire(token);
      if (!global_slot) break;
    }
    Millis now = now_ms();
    run->phase = RunPhase::running;
    run->attempts = n;
    if (n == 1) run->started_at = now;
    run->attempt_started_at = now;
    // Written with the attempt's end if that comes within History::kDeferMs (after a
    // crash the run is `interrupted` either way).
    history_.start_attempt(run->id, n, now);
    store::AttemptRow a;
    a.run_id = run->id;
    a.attempt = n;
    a.started_at = now;
    // The run's row must be on disk before the process exists (crash safety). A
    // scheduled firing wrote it ahead of time, so only a manual or catch-up run waits
    // for a commit here.
    if (!run->row_durable) {
      co_await history_.durable();
      run->row_durable = true;
    }
    last = co_await attempt(run.get(), n);
    attempted = true;
    a.finished_at = now_ms();
    a.status = last.status;
    a.exit_code = last.exit_code;
    a.signal = last.signal;
    a.output = std::move(last.output);
    a.output_truncated = last.output_truncated;
    a.error = last.error;
    log_attempt_end(*run, a);
    history_.finish_attempt(std::move(a));
    pool_slot.release();
    global_slot.release();
    if (last.status == "succeeded" || last.status == "cancelled") break;
    if (n == max_attempts || !retryable(spec.retry, last.status)) break;
    auto delay = retry_delay(spec.retry, n, std::uniform_real_distribution<double>(0, 1)(rng_));
    spdlog::info("job={} run={} attempt={} {}; retrying in {}ms", spec.name, run->id, n,
                 last.status, delay.count());
    run->phase = RunPhase::backoff;
    if (!co_await async::sleep_for(delay, token)) break;
  }

  store::RunRow row;
  row.id = run->id;
  row.job = spec.name;
  row.trigger = run->trigger;
  row.scheduled_at = run->scheduled_at;
  if (run->started_at) row.started_at = run->started_at;
  row.finished_at = now_ms();
  row.attempts = run->attempts;
  if (token.requested() && (!attempted || last.status != "succeeded")) {
    row.status = "cancelled";
    row.error = run->cancel_reason.empty() ? "cancelled" : run->cancel_reason;
  } else {
    row.status = last.status;
    row.error = last.error;
  }
  if (attempted) {
    if (last.exit_code) row.exit_code = *last.exit_code;
    if (last.signal) row.signal = *last.signal;
  }
  history_.finish_run(row);
  // The attempt line already told the story of a single-attempt run.
  if (row.attempts != 1 || row.status == "cancelled")
    spdlog::log(row.status == "succeeded" ? spdlog::level::info : spdlog::level::warn,
                "job={} run={} {} after {} attempt(s){}{}", spec.name, run->id, row.status,
                row.attempts, row.error.empty() ? "" : ": ", row.error);
  run->phase = RunPhase::finished;
  run->result = std::move(row);
  if (on_finished_) on_finished_(*run);
  run->done.set();
}

Task<async::ExitStatus> Runner::supervise(async::Process* p, async::CancelToken t,
                                          milliseconds grace) {
  // On cancellation (timeout or cancel): SIGTERM to the whole group, then SIGKILL once
  // kill_grace has passed. The timer lives in this frame and is closed when the
  // process has been reaped, so it can never signal a recycled pid.
  async::UvHandle<uv_timer_t> killer;
  async::CancelRegistration reg(t, [&] {
    p->signal_group(SIGTERM);
    uv_timer_init(async::Loop::current().uv(), killer.get());
    killer.mark_initialized();
    killer.get()->data = p;
    uv_timer_start(
        killer.get(),
        [](uv_timer_t* h) {
          if (h->data) static_cast<async::Process*>(h->data)->signal_group(SIGKILL);
        },
        static_cast<std::uint64_t>(std::max<std::int64_t>(0, grace.count())), 0);
  });
  auto status = co_await p->wait();
  if (killer.get()) killer.get()->data = nullptr;
  co_return status;
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

  AttemptOutcome out;
  std::string err;
  std::FILE* trace = spawn_trace();
  std::int64_t spawn_begin = trace ? realtime_ns() : 0;
  auto proc = processes_.spawn(o, &err);
  if (trace && proc)
    std::fprintf(trace, "%lld %d %lld %lld %lld\n", static_cast<long long>(run->id), n,
                 static_cast<long long>(run->scheduled_at), static_cast<long long>(spawn_begin),
                 static_cast<long long>(realtime_ns()));
  if (!proc) co_return could_not_start(*run, n, std::move(err));
  spdlog::info("job={} run={} attempt={} started pid={} (trigger={})", spec.name, run->id, n,
               proc->pid(), run->trigger);
  async::Process* p = proc.get();
  auto grace = spec.kill_grace;
  auto timed = co_await async::with_timeout<async::ExitStatus>(
      spec.timeout, run->cancel.token(),
      [p, grace](async::CancelToken t) { return supervise(p, t, grace); });
  const auto& st = timed.value;
  if (!st.error.empty()) co_return could_not_start(*run, n, st.error);
  if (st.exit_code >= 0) out.exit_code = st.exit_code;
  if (st.signal > 0) out.signal = st.signal;
  if (timed.timed_out) {
    out.status = "timed_out";
    out.error = "timed out after " + config::format_duration(spec.timeout);
  } else if (run->cancel.requested()) {
    out.status = "cancelled";
    out.error = run->cancel_reason.empty() ? "cancelled" : run->cancel_reason;
  } else if (st.exit_code == 0) {
    out.status = "succeeded";
  } else {
    out.status = "failed";
    out.error = st.signal > 0 ? "killed by signal " + signal_name(st.signal)
                              : "exit code " + std::to_string(st.exit_code);
  }
  out.output = p->output().str();
  out.output_truncated = p->output().truncated();
  co_return out;
}

}  // namespace kairos::daemon

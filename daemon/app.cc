#include "daemon/app.h"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <filesystem>

#include <spdlog/spdlog.h>

#include "async/clock.h"
#include "async/loop.h"
#include "async/process.h"
#include "async/scope.h"
#include "async/signals.h"
#include "async/timeout.h"
#include "config/loader.h"
#include "daemon/control_api.h"
#include "daemon/control_server.h"
#include "daemon/ledger.h"
#include "daemon/notify.h"
#include "daemon/reloader.h"
#include "daemon/runner.h"
#include "daemon/scheduler.h"
#include "kairos/version.h"
#include "store/store.h"

namespace kairos::daemon {

namespace fs = std::filesystem;

namespace {

bool ensure_parent_dir(const std::string& file, std::string* error) {
  fs::path parent = fs::path(file).parent_path();
  if (parent.empty()) return true;
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) {
    *error = parent.string() + ": " + ec.message();
    return false;
  }
  return true;
}

/// Start-up's history work before the loop exists: runs left active by a crash become
/// `interrupted`, and old runs are pruned in slices so each transaction stays short.
void recover(store::Store& store, const config::HistoryRetention& keep, Millis now) {
  if (auto n = store.recover_interrupted(now))
    spdlog::warn("{} run(s) were active when kairosd last stopped; recorded as interrupted", n);
  std::int64_t pruned = 0, slice = 0;
  do {
    slice = store.prune(keep.keep_per_job, keep.keep_for.count(), now, 1000);
    pruned += slice;
  } while (slice == 1000);
  if (pruned > 0) spdlog::info("history: pruned {} old run(s) at start-up", pruned);
}

/// The parts, in the order they are built; destroyed in reverse.
struct Parts {
  uv_loop_t uv{};
  std::unique_ptr<async::Loop> loop;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<async::RealClock> clock;
  std::unique_ptr<async::ProcessManager> processes;
  std::unique_ptr<async::Launcher> launcher;
  std::unique_ptr<async::AsyncScope> scope;
  std::unique_ptr<RunLedger> ledger;
  std::unique_ptr<Runner> runner;
  std::unique_ptr<Scheduler> scheduler;
  std::unique_ptr<Notifier> notifier;
  std::unique_ptr<Reloader> reloader;
  std::unique_ptr<ControlApi> api;
  std::unique_ptr<ControlServer> server;
  std::unique_ptr<async::SignalSet> signals;
  async::CancelSource shutdown_now;
};

Task<bool> wait_idle(RunLedger* ledger, async::CancelToken t) {
  co_return co_await ledger->idle().wait(t);
}

/// Stops firing, waits for running jobs (up to shutdown_grace, or until a second signal),
/// records every outcome, then closes every handle so the loop ends by itself.
Task<void> graceful_stop(Parts* p, std::chrono::milliseconds grace) {
  spdlog::info("stopping: no new firings; {} run(s) active, grace {}", p->ledger->active_count(),
               config::format_duration(grace));
  p->notifier->stopping("stopping, " + std::to_string(p->ledger->active_count()) +
                        " active runs");
  p->api->stop_accepting_runs();
  p->reloader->close();
  p->scheduler->stop_firing();
  if (p->ledger->active_count() > 0) {
    // Whichever comes first: every run ends, the grace passes, or a second signal.
    auto waited = co_await async::with_timeout<bool>(
        grace, p->shutdown_now.token(),
        [ledger = p->ledger.get()](async::CancelToken t) { return wait_idle(ledger, t); });
    if (!waited.value) {
      spdlog::warn("shutdown: cancelling {} run(s) still active", p->ledger->active_count());
      p->ledger->cancel_all("kairosd stopped (shutdown_grace exceeded)");
      co_await p->ledger->idle().wait();
    }
  }
  co_await p->scheduler->loops_ended();
  p->ledger->close();
  if (p->server) p->server->close();
  p->signals->close();
  p->notifier->close();
  p->clock->close();
  p->processes->close();
  p->loop->close();
}

Task<void> handle_signals(Parts* p, std::chrono::milliseconds grace) {
  bool stopping = false;
  while (auto sig = co_await p->signals->next()) {
    if (*sig == SIGHUP) {
      if (!stopping) (void)co_await p->reloader->reload("SIGHUP");
      continue;
    }
    if (stopping) {
      spdlog::warn("second stop request: cancelling running jobs now");
      p->shutdown_now.request();
      continue;
    }
    stopping = true;
    p->scope->spawn(graceful_stop(p, grace));
  }
}

}  // namespace

int run(const Options& options) {
  config::LoadOptions lo;
  lo.state_dir = options.state_dir;
  lo.running_as_root = ::geteuid() == 0;
  if (options.state_dir) {
    std::error_code ec;
    fs::create_directories(*options.state_dir, ec);
    if (ec) {
      spdlog::critical("state dir {}: {}", *options.state_dir, ec.message());
      return 1;
    }
  }
  auto loaded = config::load_file(options.config_path, lo);
  if (!loaded.ok()) {
    for (const auto& d : loaded.errors) spdlog::critical("{}", d.str());
    spdlog::critical("{}: {} error(s); not starting", options.config_path, loaded.errors.size());
    return 1;
  }
  config::Config cfg = std::move(*loaded.config);
  const auto& dc = cfg.daemon;

  // Double-forked descendants of jobs are re-parented to us, reaped, never zombies.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  // Firing precision: let the kernel wake us at the deadline, not up to 50 µs later.
  ::prctl(PR_SET_TIMERSLACK, 1UL);
  ::signal(SIGPIPE, SIG_IGN);

  std::string err;
  if (!ensure_parent_dir(dc.database, &err)) {
    spdlog::critical("database: {}", err);
    return 1;
  }
  Parts p;
  p.store = store::Store::open(dc.database, &err);
  // The history thread writes through a connection of its own; p.store serves reads.
  auto writer = p.store ? store::Store::open(dc.database, &err) : nullptr;
  if (!writer) {
    spdlog::critical("database {}", err);  // err starts with the path
    return 1;
  }
  if (int rc = uv_loop_init(&p.uv); rc != 0) {
    spdlog::critical("event loop: {}", uv_strerror(rc));
    return 1;
  }
  p.loop = std::make_unique<async::Loop>(&p.uv);
  p.clock = async::RealClock::create(*p.loop, &err);
  if (!p.clock) {
    spdlog::critical("{}", err);
    return 1;
  }
  recover(*p.store, dc.history, p.clock->now_ms());
  p.processes = std::make_unique<async::ProcessManager>(*p.loop);
  p.launcher = std::make_unique<async::ProcessLauncher>(*p.processes);
  if (options.wrap_launcher) p.launcher = options.wrap_launcher(std::move(p.launcher));
  p.scope = std::make_unique<async::AsyncScope>();
  p.scope->set_error_handler([](const std::string& e) { spdlog::error("internal error: {}", e); });
  p.ledger = std::make_unique<RunLedger>(*p.loop, *p.clock, *p.store, std::move(writer),
                                         dc.database);
  p.runner = std::make_unique<Runner>(*p.clock, *p.launcher, *p.ledger, *p.scope,
                                      dc.max_concurrent_runs);
  p.scheduler = std::make_unique<Scheduler>(*p.clock, *p.ledger, *p.runner, *p.scope);
  p.notifier = std::make_unique<Notifier>(*p.loop);
  const auto grace = dc.shutdown_grace;
  const std::size_t job_count = cfg.jobs.size();
  const std::string socket = dc.socket, database = dc.database;
  ControlServer::Options so;
  so.path = dc.socket;
  so.mode = dc.socket_mode;
  so.group = dc.socket_group;
  if (!ensure_parent_dir(so.path, &err)) {
    spdlog::critical("socket: {}", err);
    return 1;
  }
  p.signals = async::SignalSet::create(*p.loop, {SIGTERM, SIGINT, SIGHUP}, &err);
  if (!p.signals) {
    spdlog::critical("{}", err);
    return 1;
  }
  p.reloader = std::make_unique<Reloader>(*p.clock, *p.scope, *p.scheduler, *p.ledger,
                                          *p.notifier, options.config_path, lo, cfg.daemon,
                                          cfg.files);
  p.api = std::make_unique<ControlApi>(*p.clock, *p.scope, *p.scheduler, *p.ledger, *p.reloader);
  // The socket before the jobs: a daemon that cannot serve has started nothing.
  p.server = ControlServer::listen(p.loop->uv(), so, *p.api, &err);
  if (!p.server) {
    spdlog::critical("control socket: {}", err);
    return 1;
  }
  try {
    p.scheduler->start(cfg);  // all or nothing: no job loop exists if it throws
  } catch (const std::exception& e) {
    spdlog::critical("cannot start jobs: {}", e.what());
    return 1;
  }
  cfg.jobs.clear();  // the scheduler keeps its own copy of each definition
  cfg.jobs.shrink_to_fit();
  p.scope->spawn(handle_signals(&p, grace));
  p.reloader->watch();
  p.ledger->flush_and_trim();
  spdlog::info("kairosd {} started: {} job(s), config {}, database {}, socket {}", kVersion,
               job_count, options.config_path, database, socket);
  p.notifier->ready(p.reloader->summary());
  p.notifier->start_watchdog();

  p.loop->run();
  // Everything is closed by graceful_stop(); resume whatever was still queued so every
  // coroutine frame finishes, then run the loop once more for close callbacks.
  p.loop->drain();
  uv_run(&p.uv, UV_RUN_DEFAULT);
  if (p.scope->active() > 0) spdlog::warn("{} task(s) still suspended at exit", p.scope->active());
  p.ledger.reset();
  p.store.reset();
  if (uv_loop_close(&p.uv) != 0) spdlog::debug("loop closed with live handles");
  spdlog::info("kairosd stopped");
  return 0;
}

}  // namespace kairos::daemon

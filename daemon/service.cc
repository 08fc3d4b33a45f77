#include "daemon/service.h"

#include <malloc.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include <spdlog/spdlog.h>

#include "async/timeout.h"
#include "daemon/control_server.h"

namespace kairos::daemon {

namespace fs = std::filesystem;

namespace {
constexpr const char* kVersion = "0.1.0";

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

Task<bool> wait_event(async::Event* ev, async::CancelToken t) { co_return co_await ev->wait(t); }
}  // namespace

Service::Service(ServiceOptions options) : options_(std::move(options)) {}

Service::~Service() = default;

int Service::run() {
  config::LoadOptions lo;
  lo.state_dir = options_.state_dir;
  lo.running_as_root = ::geteuid() == 0;
  if (options_.state_dir) {
    std::error_code ec;
    fs::create_directories(*options_.state_dir, ec);
    if (ec) {
      spdlog::critical("state dir {}: {}", *options_.state_dir, ec.message());
      return 1;
    }
  }
  auto loaded = config::load_file(options_.config_path, lo);
  if (!loaded.ok()) {
    for (const auto& d : loaded.errors) spdlog::critical("{}", d.str());
    spdlog::critical("{}: {} error(s); not starting", options_.config_path, loaded.errors.size());
    return 1;
  }
  config_ = std::move(*loaded.config);

  // Double-forked descendants of jobs are re-parented to us, reaped, never zombies.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  // Firing precision: let the kernel wake us at the deadline, not up to 50 µs later.
  ::prctl(PR_SET_TIMERSLACK, 1UL);
  ::signal(SIGPIPE, SIG_IGN);

  if (!setup(config_)) return 1;
  release_job_definitions();
  loop_->run();
  // Everything is closed by shutdown(); resume whatever was still queued so every
  // coroutine frame finishes, then run the loop once more for close callbacks.
  loop_->drain();
  uv_run(&uv_, UV_RUN_DEFAULT);
  if (scope_->active() > 0) spdlog::warn("{} task(s) still suspended at exit", scope_->active());
  history_.reset();
  store_.reset();
  if (uv_loop_close(&uv_) != 0) {
    spdlog::debug("loop closed with live handles");
  }
  spdlog::info("kairosd stopped");
  return exit_code_;
}

bool Service::setup(const config::Config& cfg) {
  std::string err;
  if (!ensure_parent_dir(cfg.daemon.database, &err)) {
    spdlog::critical("database: {}", err);
    return false;
  }
  store_ = store::Store::open(cfg.daemon.database, &err);
  if (!store_) {
    spdlog::critical("database {}", err);  // err starts with the path
    return false;
  }
  Millis now = now_ms();
  if (auto n = store_->recover_interrupted(now))
    spdlog::warn("{} run(s) were active when kairosd last stopped; recorded as interrupted", n);
  // Old history goes in slices of 1,000 runs so each transaction stays short.
  std::int64_t pruned = 0, slice = 0;
  do {
    slice = store_->prune(cfg.daemon.history.keep_per_job, cfg.daemon.history.keep_for.count(),
                          now, 1000);
    pruned += slice;
  } while (slice == 1000);
  if (pruned > 0) spdlog::info("history: pruned {} old run(s) at start-up", pruned);

  uv_loop_init(&uv_);
  loop_ = std::make_unique<async::Loop>(&uv_);
  // The history thread writes through a connection of its own; store_ serves reads.
  auto writer = store::Store::open(cfg.daemon.database, &err);
  if (!writer) {
    spdlog::critical("database {}", err);  // err starts with the path
    return false;
  }
  history_ = std::make_unique<History>(*loop_, *store_, std::move(writer), cfg.daemon.database);
  processes_ = std::make_unique<async::ProcessManager>(*loop_);
  wall_ = async::WallTimer::create(*loop_, &err);
  if (!wall_) {
    spdlog::critical("{}", err);
    return false;
  }
  scope_ = std::make_unique<async::AsyncScope>();
  scope_->set_error_handler([](const std::string& e) { spdlog::error("internal error: {}", e); });
  runner_ = std::make_unique<Runner>(*processes_, *history_, *scope_, cfg.daemon.max_concurrent_runs);
  runner_->set_limits(cfg.daemon.max_concurrent_runs, cfg.pools);
  scheduler_ = std::make_unique<Scheduler>(*wall_, *history_, *runner_, *scope_);
  notifier_ = std::make_unique<Notifier>(*loop_);
  uv_timer_init(loop_->uv(), watch_debounce_.get());
  watch_debounce_.mark_initialized();
  watch_debounce_.get()->data = this;
  uv_unref(watch_debounce_.base());

  if (!ensure_parent_dir(cfg.daemon.socket, &err)) {
    spdlog::critical("socket: {}", err);
    return false;
  }
  ControlServer::Options so;
  so.path = cfg.daemon.socket;
  so.mode = cfg.daemon.socket_mode;
  so.group = cfg.daemon.socket_group;
  server_ = ControlServer::listen(loop_->uv(), so, *this, &err);
  if (!server_) {
    spdlog::critical("control socket: {}", err);
    return false;
  }
  install_signals();
  try {
    scheduler_->start(cfg);
  } catch (const std::exception& e) {
    spdlog::critical("cannot start jobs: {}", e.what());
    return false;
  }
  if (cfg.daemon.watch) watch_files();
  spdlog::info("kairosd {} started: {} job(s), config {}, database {}, socket {}", kVersion,
               cfg.jobs.size(), options_.config_path, cfg.daemon.database, cfg.daemon.socket);
  notifier_->ready(summary());
  notifier_->start_watchdog();
  return true;
}

std::string Service::summary() const {
  std::size_t paused = 0;
  for (const auto& j : scheduler_->jobs()) paused += j->paused ? 1 : 0;
  return std::to_string(scheduler_->jobs().size()) + " jobs (" + std::to_string(paused) +
         " paused), " + std::to_string(scheduler_->active_runs()) + " active runs";
}

void Service::install_signals() {
  auto init = [this](async::UvHandle<uv_signal_t>& h, int sig, uv_signal_cb cb) {
    uv_signal_init(loop_->uv(), h.get());
    h.mark_initialized();
    h.get()->data = this;
    uv_signal_start(h.get(), cb, sig);
    uv_unref(h.base());  // signals alone must not keep kairosd alive after shutdown
  };
  // Handlers only request; the loop does the work.
  init(sigterm_, SIGTERM, [](uv_signal_t* s, int) {
    if (s->data) static_cast<Service*>(s->data)->request_shutdown(false);
  });
  init(sigint_, SIGINT, [](uv_signal_t* s, int) {
    if (s->data) static_cast<Service*>(s->data)->request_shutdown(false);
  });
  init(sighup_, SIGHUP, [](uv_signal_t* s, int) {
    if (s->data) static_cast<Service*>(s->data)->reload("SIGHUP");
  });
}

void Service::request_shutdown(bool immediate) {
  if (stopping_) {
    // A second SIGTERM/SIGINT: stop waiting for running jobs.
    spdlog::warn("second stop request: cancelling running jobs now");
    shutdown_now_.request();
    return;
  }
  stopping_ = true;
  if (immediate) shutdown_now_.request();
  scope_->spawn(shutdown());
}

Task<void> Service::shutdown() {
  spdlog::info("stopping: no new firings; {} run(s) active, grace {}", scheduler_->active_runs(),
               config::format_duration(config_.daemon.shutdown_grace));
  notifier_->stopping("stopping, " + std::to_string(scheduler_->active_runs()) + " active runs");
  scheduler_->stop_firing();
  if (scheduler_->active_runs() > 0) {
    auto waited = co_await async::with_timeout<bool>(
        config_.daemon.shutdown_grace, shutdown_now_.token(),
        [this](async::CancelToken t) { return wait_event(&scheduler_->idle(), t); });
    if (!waited.value) {
      spdlog::warn("shutdown: cancelling {} run(s) still active", scheduler_->active_runs());
      scheduler_->cancel_all("kairosd stopped (shutdown_grace exceeded)");
      co_await scheduler_->idle().wait();
    }
  }
  // Let every job loop (woken by stop_firing) run to its end before the handles go.
  for (const auto& job : scheduler_->jobs()) co_await job->loop_done.wait();
  history_->close();
  spdlog::info("history: {} commits, the longest took {} µs; {} checkpoints, the longest "
               "took {} µs (its tail on the writer: {} µs at most)",
               history_->commits(), history_->max_commit_us(), history_->checkpoints(),
               history_->max_checkpoint_us(), history_->max_catch_up_us());
  // Close every handle; the loop then ends by itself.
  if (server_) server_->close();
  for (auto& w : watchers_) w->close();
  watch_debounce_.close();
  sigterm_.close();
  sigint_.close();
  sighup_.close();
  notifier_->close();
  wall_->close();
  processes_->close();
  loop_->close();
}

protocol::ReloadResult Service::reload(const std::string& origin) {
  protocol::ReloadResult out;
  if (stopping_) {
    out.errors.push_back("kairosd is stopping");
    return out;
  }
  notifier_->reloading();
  config::LoadOptions lo;
  lo.state_dir = options_.state_dir;
  lo.running_as_root = ::geteuid() == 0;
  auto loaded = config::load_file(options_.config_path, lo);
  if (!loaded.ok()) {
    for (const auto& d : loaded.errors) {
      spdlog::error("reload ({}): {}", origin, d.str());
      out.errors.push_back(d.str());
    }
    spdlog::error("reload ({}) refused: {} error(s); the previous configuration stays active",
                  origin, loaded.errors.size());
    notifier_->ready(summary());
    return out;
  }
  auto& cfg = *loaded.config;
  if (cfg.daemon.socket != config_.daemon.socket || cfg.daemon.database != config_.daemon.database)
    spdlog::warn("reload: daemon.socket and daemon.database take effect at the next restart");
  ReloadDiff d;
  try {
    // A job added back reads its saved state: let everything written reach the database.
    history_->flush();
    d = scheduler_->apply(cfg);
  } catch (const std::exception& e) {
    out.errors.push_back(e.what());
    spdlog::error("reload ({}) failed: {}", origin, e.what());
    notifier_->ready(summary());
    return out;
  }
  bool watch_changed = cfg.daemon.watch != config_.daemon.watch || cfg.files != config_.files;
  // Keep the daemon section that needs a restart as it was.
  cfg.daemon.socket = config_.daemon.socket;
  cfg.daemon.database = config_.daemon.database;
  config_ = std::move(cfg);
  release_job_definitions();
  if (watch_changed) watch_files();
  out.ok = true;
  out.added = d.added;
  out.removed = d.removed;
  out.changed = d.changed;
  out.unchanged = d.unchanged;
  spdlog::info("reload ({}): {} added, {} removed, {} changed, {} unchanged", origin,
               d.added.size(), d.removed.size(), d.changed.size(), d.unchanged.size());
  notifier_->ready(summary());
  return out;
}

void Service::release_job_definitions() {
  // One copy of 10,000 definitions is enough. Loading built a yaml-cpp tree several times
  // the size of what the jobs keep, and glibc keeps freed pages in the heap: hand them back
  // once the scheduler has its jobs and the Config's copies are gone (10,000 jobs: 59 MiB
  // resident without a trim, 25 with one before dropping the copies, 23 after).
  config_.jobs.clear();
  config_.jobs.shrink_to_fit();
  // The jobs' saved states (one write each) are committed, and the pages the scheduler read
  // them through are dropped from the read connection's cache, before the trim.
  history_->flush();
  store_->release_memory();
  ::malloc_trim(0);
}

void Service::watch_files() {
  for (auto& w : watchers_) w->close();
  watchers_.clear();
  if (!config_.daemon.watch) return;
  // Watch the directories (editors replace files by rename, which a file watch loses).
  std::set<std::string> dirs;
  auto dir_of = [](const fs::path& p) {
    auto d = p.parent_path();
    return d.empty() ? std::string(".") : d.string();
  };
  for (const auto& f : config_.files) dirs.insert(dir_of(f));
  // Also the directories the include globs read, so that the first file dropped into an
  // empty jobs.d/ is noticed (no file there yet means no entry in config_.files).
  const fs::path main_dir = fs::path(options_.config_path).parent_path();
  for (const auto& pattern : config_.daemon.include) {
    std::string d = dir_of(pattern.starts_with('/') ? fs::path(pattern) : main_dir / pattern);
    std::error_code ec;
    if (d.find_first_of("*?[") == std::string::npos && fs::is_directory(d, ec)) dirs.insert(d);
  }
  for (const auto& d : dirs) {
    auto w = std::make_unique<async::UvHandle<uv_fs_event_t>>();
    uv_fs_event_init(loop_->uv(), w->get());
    w->mark_initialized();
    w->get()->data = this;
    int rc = uv_fs_event_start(
        w->get(),
        [](uv_fs_event_t* h, const char* name, int, int) {
          auto* self = static_cast<Service*>(h->data);
          if (!self || !name) return;
          std::string n = name;
          if (n.size() < 5 || (n.substr(n.size() - 5) != ".yaml" && n.substr(n.size() - 4) != ".yml"))
            return;
          // Debounce: editors write in several steps.
          uv_timer_start(
              self->watch_debounce_.get(),
              [](uv_timer_t* t) {
                if (t->data) static_cast<Service*>(t->data)->reload("file change");
              },
              300, 0);
        },
        d.c_str(), 0);
    if (rc != 0) spdlog::warn("watch {}: {}", d, uv_strerror(rc));
    uv_unref(w->base());
    watchers_.push_back(std::move(w));
  }
}

}  // namespace kairos::daemon

// Service: kairosd's life. Loads the config, opens the history, builds the loop's
// pieces, serves the control socket, and turns signals into actions: SIGTERM/SIGINT
// → graceful shutdown, SIGHUP → reload. It is also the ControlHandler behind the
// socket (control.cc).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <uv.h>

#include "async/handle.h"
#include "async/loop.h"
#include "async/process.h"
#include "async/scope.h"
#include "async/wall_timer.h"
#include "config/job_spec.h"
#include "config/loader.h"
#include "daemon/control_handler.h"
#include "daemon/history.h"
#include "daemon/notify.h"
#include "daemon/runner.h"
#include "daemon/scheduler.h"
#include "protocol/messages.h"
#include "store/store.h"

namespace kairos::daemon {

class ControlServer;

struct ServiceOptions {
  std::string config_path;
  std::optional<std::string> state_dir;
};

class Service : public ControlHandler {
 public:
  explicit Service(ServiceOptions options);
  ~Service() override;
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  /// Runs kairosd to the end; returns the process exit code.
  int run();

  void handle(const std::string& method, const nlohmann::json& params, const Peer& peer,
              Reply reply) override;

 private:
  bool setup(const config::Config& cfg);
  void install_signals();
  void request_shutdown(bool immediate);
  Task<void> shutdown();
  protocol::ReloadResult reload(const std::string& origin);
  void watch_files();
  /// Drops the job definitions (the scheduler holds them now) and hands the memory that
  /// loading freed back to the kernel.
  void release_job_definitions();
  std::string summary() const;

  // control.cc
  protocol::RunInfo run_info(const store::RunRow& row) const;
  protocol::RunInfo run_info(const Run& run) const;
  /// A row as the daemon sees it now: an active run from its live view (its current
  /// attempt and phase; the database learns of a start up to History::kDeferMs late).
  protocol::RunInfo run_info_now(const store::RunRow& row) const;
  protocol::JobSummary job_summary(const Job& job);
  protocol::JobDetail job_detail(const Job& job);
  protocol::StatusInfo status_info();
  void respond(const std::string& method, const nlohmann::json& params, const Peer& peer,
               Reply reply);
  void run_method(const protocol::RunParams& p, Reply reply);
  static Task<void> wait_and_reply(std::shared_ptr<Run> run, Reply reply, Service* self);

  ServiceOptions options_;
  config::Config config_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  uv_loop_t uv_{};
  std::unique_ptr<async::Loop> loop_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<History> history_;
  std::unique_ptr<async::ProcessManager> processes_;
  std::unique_ptr<async::WallTimer> wall_;
  std::unique_ptr<async::AsyncScope> scope_;
  std::unique_ptr<Runner> runner_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<ControlServer> server_;
  std::unique_ptr<Notifier> notifier_;
  async::UvHandle<uv_signal_t> sigterm_, sigint_, sighup_;
  std::vector<std::unique_ptr<async::UvHandle<uv_fs_event_t>>> watchers_;
  async::UvHandle<uv_timer_t> watch_debounce_;
  async::CancelSource shutdown_now_;
  bool stopping_ = false;
  int exit_code_ = 0;
};

}  // namespace kairos::daemon

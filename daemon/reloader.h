// Reloader: re-reads the configuration (on the thread pool, so the loop keeps firing
// meanwhile), and applies a valid one as a diff; an invalid one changes nothing and its
// errors are returned. It also watches the configuration's directories when
// `daemon.watch` is on. Reloads never overlap: a second one waits for the first.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "async/clock.h"
#include "async/scope.h"
#include "async/signals.h"
#include "async/sync.h"
#include "config/job_spec.h"
#include "config/loader.h"
#include "daemon/ledger.h"
#include "daemon/notify.h"
#include "daemon/scheduler.h"
#include "protocol/messages.h"

namespace kairos::daemon {

class Reloader {
 public:
  Reloader(async::Clock& clock, async::AsyncScope& scope, Scheduler& scheduler,
           RunLedger& ledger, Notifier& notifier, std::string config_path,
           config::LoadOptions options, config::DaemonConfig daemon,
           std::vector<std::string> files);

  /// The daemon section in force (socket and database as at start-up).
  const config::DaemonConfig& daemon() const { return daemon_; }
  const std::string& config_path() const { return path_; }
  /// Re-reads and applies; `origin` names who asked ("SIGHUP", "kairosctl", "file change").
  Task<protocol::ReloadResult> reload(std::string origin);
  /// Starts or stops watching, as the configuration says.
  void watch();
  /// Stops watching and refuses further reloads (shutdown).
  void close();
  /// One line for sd_notify's STATUS.
  std::string summary() const;

 private:
  Task<void> watch_loop(std::unique_ptr<async::DirectoryWatch> w, async::CancelToken stop);

  async::Clock& clock_;
  async::AsyncScope& scope_;
  Scheduler& scheduler_;
  RunLedger& ledger_;
  Notifier& notifier_;
  std::string path_;
  config::LoadOptions options_;
  config::DaemonConfig daemon_;
  std::vector<std::string> files_;
  std::shared_ptr<async::Semaphore> one_at_a_time_ = async::Semaphore::create(1);
  std::unique_ptr<async::CancelSource> watching_;  // ends the current watch loop
  bool closed_ = false;
};

}  // namespace kairos::daemon

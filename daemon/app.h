// App: kairosd's composition root. It loads the configuration, opens the history, builds
// the parts (clock, launcher, ledger, runner, scheduler, reloader, control API and socket,
// sd_notify), runs the loop, and turns signals into actions: SIGTERM/SIGINT → graceful
// shutdown (a second one cancels running jobs at once), SIGHUP → reload.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "async/launcher.h"

namespace kairos::daemon {

struct Options {
  std::string config_path;
  std::optional<std::string> state_dir;
  /// Wraps the process launcher (benchmarks trace spawns this way); nullptr: none.
  std::function<std::unique_ptr<async::Launcher>(std::unique_ptr<async::Launcher>)> wrap_launcher;
};

/// Runs kairosd to the end; returns the process exit code.
int run(const Options& options);

}  // namespace kairos::daemon

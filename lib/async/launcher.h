// Launcher: the seam between the runner and the operating system's processes. The runner
// spawns, signals and awaits through it; ProcessLauncher does it for real (ProcessManager,
// process groups, output tails), and tests script exits with a fake.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "async/process.h"
#include "async/task.h"

namespace kairos::async {

/// One started process (the leader of its own process group).
class Child {
 public:
  virtual ~Child() = default;
  virtual pid_t pid() const = 0;
  /// Sends `sig` to the whole process group while the leader has not been reaped.
  virtual void signal_group(int sig) = 0;
  /// Waits for the exit and the end of the output. Not cancellable: signal, then await.
  virtual Task<ExitStatus> wait() = 0;
  /// The kept tail of stdout+stderr, and whether older output was dropped.
  virtual std::string output() const = 0;
  virtual bool output_truncated() const = 0;
};

class Launcher {
 public:
  virtual ~Launcher() = default;
  /// Starts a child; nullptr + *error ("command not found: foo") when none could be made.
  virtual std::unique_ptr<Child> spawn(const SpawnOptions& options, std::string* error) = 0;
};

/// Real processes, through a ProcessManager (which must outlive the launcher).
class ProcessLauncher final : public Launcher {
 public:
  explicit ProcessLauncher(ProcessManager& processes) : processes_(processes) {}
  std::unique_ptr<Child> spawn(const SpawnOptions& options, std::string* error) override;

 private:
  ProcessManager& processes_;
};

}  // namespace kairos::async

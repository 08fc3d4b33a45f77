// FakeLauncher: a Launcher whose children are scripted by the test. Every spawn is recorded
// (argv, env, the pid it was given); each child lives until the test makes it exit, or a
// signal ends it: by default SIGTERM and SIGKILL kill it, and ignore_sigterm() makes it
// outlive SIGTERM so that only the SIGKILL after kill_grace ends it. Spawns can be made to
// fail ("command not found") like a real launcher that could not start the command.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "async/launcher.h"
#include "async/sync.h"

namespace kairos::fakes {

/// One spawned child as the test sees it. Owned by the launcher: it outlives the Child the
/// runner holds.
class FakeProcess {
 public:
  FakeProcess(std::size_t index, pid_t pid, async::SpawnOptions options)
      : index_(index), pid_(pid), options_(std::move(options)) {}
  FakeProcess(const FakeProcess&) = delete;
  FakeProcess& operator=(const FakeProcess&) = delete;

  std::size_t index() const { return index_; }
  pid_t pid() const { return pid_; }
  const async::SpawnOptions& options() const { return options_; }
  const std::vector<std::string>& argv() const { return options_.argv; }
  /// The value of `name` in the child's environment (nullopt: not set).
  std::optional<std::string> env(const std::string& name) const;

  bool alive() const { return !status_; }
  const std::optional<async::ExitStatus>& status() const { return status_; }
  /// Signals sent to its group while it was alive, in order.
  const std::vector<int>& signals() const { return signals_; }
  /// Signals sent after it had exited (a real launcher drops them; they must not happen).
  const std::vector<int>& late_signals() const { return late_signals_; }
  /// Whether the runner destroyed its Child while it was still alive.
  bool abandoned() const { return abandoned_; }

  /// SIGTERM does not end it (SIGKILL still does).
  void ignore_sigterm(bool ignore = true) { ignore_sigterm_ = ignore; }
  /// Appends to the output the runner reads after the exit.
  void print(const std::string& text) { output_ += text; }
  void set_output_truncated(bool t = true) { truncated_ = t; }

  /// Exits with `code` (no-op if it already ended).
  void exit(int code);
  /// Dies of `sig`.
  void kill_by_signal(int sig);
  /// Fails before execve (exit status 127 with `error`, like a bad working_dir).
  void fail_exec(const std::string& error);
  /// A signal to its group, as Child::signal_group sends it.
  void signal(int sig);

 private:
  friend class FakeChild;
  void end(async::ExitStatus s);

  std::size_t index_;
  pid_t pid_;
  async::SpawnOptions options_;
  std::vector<int> signals_, late_signals_;
  bool ignore_sigterm_ = false;
  bool abandoned_ = false;
  std::string output_;
  bool truncated_ = false;
  std::optional<async::ExitStatus> status_;
  async::Event exited_;
};

class FakeLauncher final : public async::Launcher {
 public:
  FakeLauncher() = default;
  FakeLauncher(const FakeLauncher&) = delete;
  FakeLauncher& operator=(const FakeLauncher&) = delete;

  std::unique_ptr<async::Child> spawn(const async::SpawnOptions& options,
                                      std::string* error) override;

  /// Children spawned so far (failed spawns not counted).
  std::size_t spawned() const { return procs_.size(); }
  /// Calls of spawn() that failed.
  std::size_t failed_spawns() const { return failed_; }
  /// The i-th child spawned (0-based).
  FakeProcess& process(std::size_t i);
  FakeProcess& last();
  /// nullptr when no child has that pid.
  FakeProcess* find_pid(pid_t pid);
  /// Children not ended yet, in spawn order.
  std::vector<FakeProcess*> alive();
  /// Children whose KAIROS_JOB is `job`, in spawn order.
  std::vector<FakeProcess*> of_job(const std::string& job);

  void exit(std::size_t i, int code) { process(i).exit(code); }
  void kill_by_signal(std::size_t i, int sig) { process(i).kill_by_signal(sig); }
  /// SIGKILLs every child still alive (test teardown).
  void kill_all();

  /// The next `times` spawns fail with `error`.
  void fail_next(std::string error = "command not found", int times = 1);
  /// Every spawn of argv[0] == `command` fails ("command not found: COMMAND" by default).
  void fail_command(const std::string& command, std::string error = {});

  /// Called for each new child before spawn() returns: may script it (exit at once,
  /// ignore SIGTERM, print).
  std::function<void(FakeProcess&)> on_spawn;
  /// New children ignore SIGTERM.
  bool ignore_sigterm_by_default = false;

 private:
  std::vector<std::unique_ptr<FakeProcess>> procs_;
  std::deque<std::string> fail_next_;
  std::map<std::string, std::string> fail_command_;
  std::size_t failed_ = 0;
};

}  // namespace kairos::fakes

// Child processes for job attempts.
//
// Spawn path: clone(CLONE_VM) through async::Spawner (spawn.h), which returns without
// waiting for the child's execve; not uv_spawn, whose fork() slows down as the daemon's
// resident set grows (docs/PERFORMANCE.md). Each child gets its own process group, stdin
// from /dev/null, stdout+stderr into one pipe whose tail is kept (bounded), every signal at
// its default disposition, an empty signal mask, and no file descriptor but 0-2. Switching
// user is done by exec'ing util-linux's setpriv(1) in front of the command: a child that
// shares the daemon's memory must not run NSS lookups (initgroups) itself.
//
// Reaping: ProcessManager reads SIGCHLD from a signalfd and reaps every child (the daemon
// is a child subreaper, so double-forked descendants land here too). When a job's main
// process exits, whatever is left in its process group is killed before the leader is
// reaped, while the group id cannot yet have been reused.
//
// SIGCHLD must stay blocked in every thread of the process, or the kernel may hand it to
// a thread that discards it instead of queueing it for the signalfd. Threads inherit the
// mask of their creator, so call block_sigchld() first thing in main(), before anything
// starts a thread (libuv's thread pool, say); the ProcessManager also blocks it in the
// thread that constructs it. A signalfd instead of a signal handler also keeps the exit
// of a child from interrupting (and waking) the daemon's other threads, and costs one
// read() per wake-up instead of libuv's handler, pipe and second pipe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "async/cancel.h"
#include "async/handle.h"
#include "async/loop.h"
#include "async/spawn.h"
#include "async/sync.h"
#include "async/task.h"

namespace kairos::async {

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] looked up in the PATH of `env` when it has no '/'
  std::vector<std::string> env;   // "NAME=value", the complete environment
  std::string working_dir;        // empty: inherit
  std::string fallback_dir;       // used when working_dir cannot be entered (empty: fail)
  std::uint64_t output_limit = 64 * 1024;
  std::optional<uid_t> uid;  // switch identity (needs root); with gid and supplementary groups
  std::optional<gid_t> gid;
};

/// How a process ended.
struct ExitStatus {
  int exit_code = -1;  // >= 0 when it exited
  int signal = 0;      // > 0 when killed by a signal
  /// Non-empty when the command never started ("working_dir /x: No such file or
  /// directory", "cannot start /bin/x: Permission denied"); exit_code is then 127.
  std::string error;
  bool success() const { return exit_code == 0; }
};

/// Keeps the last `limit` bytes of a stream with O(1) amortized appends and at most
/// 2*limit bytes of memory, however much the child prints.
class OutputTail {
 public:
  explicit OutputTail(std::uint64_t limit) : limit_(limit) {}
  void append(const char* data, std::size_t n);
  std::string str() const;
  bool truncated() const { return truncated_; }
  std::uint64_t total() const { return total_; }

 private:
  std::uint64_t limit_;
  std::string buf_;
  bool truncated_ = false;
  std::uint64_t total_ = 0;
};

class ProcessManager;

class Process {
 public:
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  /// Sends `sig` to the whole process group while the leader has not been reaped.
  void signal_group(int sig);
  const std::optional<ExitStatus>& status() const { return status_; }
  const OutputTail& output() const { return output_; }

  /// Waits until the main process has exited and its output is read to the end (or
  /// `drain_limit` after the exit, in case an escaped descendant still holds the pipe).
  /// Not cancellable: cancel by signalling the group, then await this.
  Task<ExitStatus> wait(std::chrono::milliseconds drain_limit = std::chrono::milliseconds(500));

 private:
  friend class ProcessManager;
  Process(ProcessManager& pm, std::uint64_t output_limit) : pm_(pm), output_(output_limit) {}
  void on_exit(int wait_status, const SpawnFailure* failure = nullptr);
  void on_eof();
  Task<bool> wait_eof(CancelToken t);
  ProcessManager& pm_;
  pid_t pid_ = -1;
  std::string exe_;          // for the error when the child fails before execve
  std::string working_dir_;
  OutputTail output_;
  std::optional<ExitStatus> status_;
  UvHandle<uv_pipe_t> pipe_;
  Event exited_;
  Event eof_;
};

class ProcessManager {
 public:
  explicit ProcessManager(Loop& loop);
  ~ProcessManager();
  ProcessManager(const ProcessManager&) = delete;
  ProcessManager& operator=(const ProcessManager&) = delete;

  /// Starts a child without waiting for it to exec. nullptr + *error ("command not
  /// found: foo") when no child could be made; what fails in the child (its working_dir,
  /// execve) comes back as the ExitStatus's error.
  std::unique_ptr<Process> spawn(const SpawnOptions& options, std::string* error);

  std::size_t running() const { return live_.size(); }
  /// Children reaped that were not ours (orphans re-parented to us as subreaper).
  std::uint64_t orphans_reaped() const { return orphans_reaped_; }
  Loop& loop() { return loop_; }
  void close();

 private:
  friend class Process;
  void on_sigchld();
  void reap();
  void forget(pid_t pid);
  Loop& loop_;
  Spawner spawner_;
  int sigfd_ = -1;
  UvHandle<uv_poll_t> sigchld_;
  std::unordered_map<pid_t, Process*> live_;
  std::uint64_t orphans_reaped_ = 0;
  bool referenced_ = false;
  bool closed_ = false;
};

/// Blocks SIGCHLD in the calling thread (and so in every thread it creates later).
void block_sigchld();

/// Looks `name` up like execvp would, in the colon-separated `path`.
std::optional<std::string> find_executable(const std::string& name, const std::string& path);

}  // namespace kairos::async

// Starting one child process: the system-call recipe under ProcessManager::spawn, also
// used by the bench's bare loop so that "bare" means the same recipe without a scheduler.
//
// clone(CLONE_VM | CLONE_VFORK) on a child stack allocated once per Spawner. This is what
// glibc's posix_spawn does, minus two costs measured on every spawn (docs/PERFORMANCE.md):
// posix_spawn maps a fresh child stack and unmaps it afterwards, and the munmap needs a
// TLB shootdown on every CPU the child ran on (30 % of a bare posix_spawn loop's CPU on
// a 2-core guest); and each file action re-reads RLIMIT_NOFILE. The child:
//   - every signal back to SIG_DFL, an empty signal mask;
//   - a process group of its own (setpgid(0, 0));
//   - stdin from /dev/null, stdout and stderr into `output_fd`, no other descriptor;
//   - chdir(working_dir) (else chdir(fallback_dir), if given), then execve.
// The child runs only raw system calls on its own stack: it shares the parent's memory
// until execve, so it must not allocate, lock or touch libc state.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace kairos::async {

struct ChildSpec {
  const char* path = nullptr;         // the executable (no PATH search here)
  char* const* argv = nullptr;        // nullptr-terminated
  char* const* envp = nullptr;        // nullptr-terminated, the complete environment
  int output_fd = -1;                 // becomes fds 1 and 2
  const char* working_dir = nullptr;  // nullptr: the parent's
  const char* fallback_dir = nullptr;  // entered when working_dir cannot be (nullptr: fail)
};

/// Why a spawn failed: errno, and the step of the child that hit it.
struct SpawnFailure {
  int error = 0;
  const char* step = "";  // "clone", "stdin", "output", "working_dir", "exec", ...
};

class Spawner {
 public:
  Spawner();
  ~Spawner();
  Spawner(const Spawner&) = delete;
  Spawner& operator=(const Spawner&) = delete;

  /// The child's pid, or -1 and *failure. A child that failed before execve has already
  /// been reaped. One spawn at a time per Spawner (the child borrows its stack until it
  /// has exec'd, and clone returns only then).
  pid_t spawn(const ChildSpec& spec, SpawnFailure* failure);

 private:
  void* map_ = nullptr;
  std::size_t map_size_ = 0;
  char* stack_top_ = nullptr;
  unsigned long max_fd_ = 1024;  // only for kernels without close_range
};

}  // namespace kairos::async

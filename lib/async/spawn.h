// Starting one child process: the system-call recipe under ProcessManager::spawn, also
// used by the bench's bare loop so that "bare" means the same recipe without a scheduler.
//
// clone(CLONE_VM) on a child stack of the Spawner's own, like glibc's posix_spawn, with
// two differences (their cost is in docs/PERFORMANCE.md):
//   - no CLONE_VFORK on x86-64 and arm64: clone returns at once and the child execs on its
//     own, because posix_spawn (and vfork) block the one loop until the child has exec'd;
//     other architectures wait (their child needs errno, see spawn.cc);
//   - stacks are kept and reused, not mapped and unmapped per spawn (each munmap costs a
//     TLB shootdown); and no file action re-reads RLIMIT_NOFILE.
// The child:
//   - every signal back to SIG_DFL, an empty signal mask;
//   - a process group of its own (setpgid(0, 0), also done by the parent so that a group
//     signal sent right after spawn() cannot miss it);
//   - stdin from /dev/null, stdout and stderr into `output_fd`, no other descriptor;
//   - chdir(working_dir) (else chdir(fallback_dir), if given), then execve.
// The child shares the parent's memory until execve while the parent runs on, so it runs
// only raw system calls (no errno, no libc state, no allocation) on its own stack and
// reads only its slot: a private copy of path, argv, envp and directories. The kernel
// zeroes a word in the slot when the child has exec'd or died (CLONE_CHILD_CLEARTID), and
// only then is the slot reused.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

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
  ~Spawner();  // waits (briefly) for children that have not exec'd yet
  Spawner(const Spawner&) = delete;
  Spawner& operator=(const Spawner&) = delete;

  /// The child's pid, or -1 and *failure when no child could be made (clone failed, or
  /// no memory for its slot). Returns without waiting for execve: a child that
  /// fails before it (no such working_dir, execve's own errors) exits with status 127,
  /// and failure_of() says why once it has been reaped.
  pid_t spawn(const ChildSpec& spec, SpawnFailure* failure);
  /// Why `pid`, now reaped, exited before execve; nullopt when it did exec (or is not
  /// one of ours). Answers once per pid.
  std::optional<SpawnFailure> failure_of(pid_t pid);

 private:
  struct Slot;
  Slot* take_slot(std::size_t blob_size);
  void release(Slot* slot);
  /// Frees the slots of children that have exec'd or died; remembers the failures.
  void collect();

  std::size_t page_ = 4096;
  std::vector<Slot*> in_flight_;
  std::vector<Slot*> free_;
  std::vector<std::pair<pid_t, SpawnFailure>> failed_;
  unsigned long max_fd_ = 1024;  // only for kernels without close_range
};

}  // namespace kairos::async

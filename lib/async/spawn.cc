#include "async/spawn.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

namespace kairos::async {

namespace {

constexpr std::size_t kStackSize = 64 * 1024;   // the child uses a few hundred bytes
constexpr int kMaxSignal = 64;                  // _NSIG - 1 on Linux
constexpr unsigned long kKernelSigsetSize = 8;  // the kernel's sigset_t, not glibc's

/// The kernel's struct sigaction, all zero: SIG_DFL, no flags, empty mask. (The field
/// order differs between architectures; zero is zero in every one of them.)
struct KernelSigaction {
  unsigned long words[4] = {};
};

struct ChildArgs {
  const ChildSpec* spec;
  unsigned long max_fd;  // fallback for kernels without close_range (< 5.9)
  SpawnFailure failure;  // written by the child before it exits, read after clone returns
};

#define KAIROS_CHILD_CODE __attribute__((no_sanitize("address", "undefined"), noinline))

/// The signals whose disposition is not SIG_DFL (ignored or caught), as a bit mask
/// (bit n-1 = signal n), read from the child's own /proc/self/status: three system calls
/// instead of a sigaction for each of 64 signals. ~0 when /proc cannot be read.
KAIROS_CHILD_CODE std::uint64_t non_default_signals() {
  char buf[4096];
  long fd = ::syscall(SYS_openat, AT_FDCWD, "/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ~std::uint64_t{0};
  long n = ::syscall(SYS_read, fd, buf, sizeof buf - 1);
  ::syscall(SYS_close, fd);
  if (n <= 0) return ~std::uint64_t{0};
  buf[n] = '\0';
  std::uint64_t mask = 0;
  int found = 0;
  for (long i = 0; i + 8 < n; ++i) {
    if (i > 0 && buf[i - 1] != '\n') continue;
    bool ign = buf[i] == 'S' && buf[i + 1] == 'i' && buf[i + 2] == 'g' && buf[i + 3] == 'I' &&
               buf[i + 4] == 'g' && buf[i + 5] == 'n' && buf[i + 6] == ':';
    bool cgt = buf[i] == 'S' && buf[i + 1] == 'i' && buf[i + 2] == 'g' && buf[i + 3] == 'C' &&
               buf[i + 4] == 'g' && buf[i + 5] == 't' && buf[i + 6] == ':';
    if (!ign && !cgt) continue;
    long j = i + 7;
    while (j < n && (buf[j] == ' ' || buf[j] == '\t')) ++j;
    std::uint64_t v = 0;
    int digits = 0;
    for (; j < n && digits < 16; ++j, ++digits) {
      char c = buf[j];
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) break;
      v = v << 4 | static_cast<std::uint64_t>(d);
    }
    if (digits != 16) return ~std::uint64_t{0};
    mask |= v;
    ++found;
  }
  return found == 2 ? mask : ~std::uint64_t{0};
}

// The child: runs on the Spawner's stack in the parent's memory until execve, with every
// signal blocked (the parent blocked them before clone). Raw system calls only — no
// allocation, no locks, no sanitizer instrumentation (ASan's shadow bookkeeping would
// run on a stack it does not know).
/// Records why the child gives up; its exit status is then 127.
KAIROS_CHILD_CODE int child_failed(ChildArgs* a, const char* step) {
  a->failure.error = errno != 0 ? errno : EIO;
  a->failure.step = step;
  return 127;
}

KAIROS_CHILD_CODE int child_main(void* p) {
  auto* a = static_cast<ChildArgs*>(p);
  const ChildSpec& s = *a->spec;
  // No handler of the daemon's may ever run in the child, and the job starts with
  // default dispositions (SIG_IGN would survive execve). The child has its own copy of
  // the dispositions, so its /proc/self/status tells which ones need resetting.
  KernelSigaction dfl;
  std::uint64_t reset = non_default_signals();
  for (int sig = 1; sig <= kMaxSignal; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP || !(reset >> (sig - 1) & 1)) continue;
    ::syscall(SYS_rt_sigaction, sig, &dfl, nullptr, kKernelSigsetSize);
  }
  if (::syscall(SYS_setpgid, 0, 0) != 0) return child_failed(a, "setpgid");
  long out = s.output_fd;
  if (out < 3) {  // only if the daemon's own 0-2 were closed: move it out of the way
    out = ::syscall(SYS_fcntl, out, F_DUPFD, 3);
    if (out < 0) return child_failed(a, "output");
  }
  long in = ::syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY);
  if (in < 0) return child_failed(a, "stdin");
  if (in != 0 && ::syscall(SYS_dup3, in, 0, 0) < 0) return child_failed(a, "stdin");
  if (::syscall(SYS_dup3, out, 1, 0) < 0 || ::syscall(SYS_dup3, out, 2, 0) < 0)
    return child_failed(a, "output");
  if (s.working_dir && ::syscall(SYS_chdir, s.working_dir) != 0 &&
      !(s.fallback_dir && ::syscall(SYS_chdir, s.fallback_dir) == 0))
    return child_failed(a, "working_dir");
  // Belt and braces: the daemon opens everything O_CLOEXEC, but a library might not.
  if (::syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
    for (unsigned long fd = 3; fd < a->max_fd; ++fd) ::syscall(SYS_close, fd);
  }
  std::uint64_t empty = 0;
  ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty, nullptr, kKernelSigsetSize);
  ::syscall(SYS_execve, s.path, s.argv, s.envp);
  return child_failed(a, "exec");
}

}  // namespace

Spawner::Spawner() {
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  map_size_ = kStackSize + page;
  map_ = ::mmap(nullptr, map_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                -1, 0);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    throw std::system_error(errno, std::generic_category(), "mmap (child stack)");
  }
  ::mprotect(map_, page, PROT_NONE);  // guard page below the stack
  stack_top_ = static_cast<char*>(map_) + map_size_;
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY)
    max_fd_ = static_cast<unsigned long>(nofile.rlim_cur);
}

Spawner::~Spawner() {
  if (map_) ::munmap(map_, map_size_);
}

pid_t Spawner::spawn(const ChildSpec& spec, SpawnFailure* failure) {
  ChildArgs args{&spec, max_fd_, {}};
  // Every signal blocked across clone: the child resets the dispositions before it
  // unblocks, so no handler of the daemon's runs in the child.
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, &old);
  pid_t pid = ::clone(child_main, stack_top_, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
  int clone_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) {
    if (failure) *failure = {clone_errno, "clone"};
    return -1;
  }
  if (args.failure.error != 0) {
    // The child has already exited (CLONE_VFORK returns only after exec or exit).
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (failure) *failure = args.failure;
    return -1;
  }
  return pid;
}

}  // namespace kairos::async

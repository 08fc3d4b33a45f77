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
#include <cstring>
#include <new>
#include <system_error>

namespace kairos::async {

namespace {

constexpr std::size_t kStackSize = 64 * 1024;   // the child uses about 5 KiB of it
constexpr std::size_t kPooledBlob = 60 * 1024;  // argv + envp up to this reuse kept slots
constexpr std::size_t kMaxPooled = 64;          // slots kept for reuse
constexpr int kMaxSignal = 64;                  // _NSIG - 1 on Linux
constexpr unsigned long kKernelSigsetSize = 8;  // the kernel's sigset_t, not glibc's

/// The kernel's struct sigaction, all zero: SIG_DFL, no flags, empty mask. (The field
/// order differs between architectures; zero is zero in every one of them.)
struct KernelSigaction {
  unsigned long words[4] = {};
};

struct ChildArgs {
  ChildSpec spec;        // points into the slot's own copy
  unsigned long max_fd;  // fallback for kernels without close_range (< 5.9)
  SpawnFailure failure;  // written by the child before it exits
};

#define KAIROS_CHILD_CODE __attribute__((no_sanitize("address", "undefined"), noinline))
#define KAIROS_CHILD_INLINE \
  __attribute__((no_sanitize("address", "undefined"), always_inline)) inline

// A system call that returns -errno instead of setting errno: errno lives in the parent's
// thread-local storage, which the child shares while the parent runs on.
#if defined(__x86_64__)
constexpr bool kWaitForExec = false;
KAIROS_CHILD_INLINE long sys(long n, long a = 0, long b = 0, long c = 0, long d = 0) {
  long ret;
  register long r10 asm("r10") = d;
  asm volatile("syscall"
               : "=a"(ret)
               : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
               : "rcx", "r11", "memory");
  return ret;
}
#elif defined(__aarch64__)
constexpr bool kWaitForExec = false;
KAIROS_CHILD_INLINE long sys(long n, long a = 0, long b = 0, long c = 0, long d = 0) {
  register long x8 asm("x8") = n;
  register long x0 asm("x0") = a;
  register long x1 asm("x1") = b;
  register long x2 asm("x2") = c;
  register long x3 asm("x3") = d;
  asm volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
  return x0;
}
#else
// Elsewhere the parent waits for execve (CLONE_VFORK), so errno is the child's to use.
constexpr bool kWaitForExec = true;
KAIROS_CHILD_INLINE long sys(long n, long a = 0, long b = 0, long c = 0, long d = 0) {
  long r = ::syscall(n, a, b, c, d);
  return r < 0 ? -errno : r;
}
#endif

// The child: runs on its slot's stack in the parent's memory until execve, with every
// signal blocked (the parent blocked them before clone). Raw system calls only — no
// allocation, no locks, no errno, no sanitizer instrumentation (ASan's shadow
// bookkeeping would run on a stack it does not know).
/// Records why the child gives up; its exit status is then 127.
KAIROS_CHILD_CODE int child_failed(ChildArgs* a, const char* step, long rc) {
  a->failure.error = rc < 0 ? static_cast<int>(-rc) : EIO;
  a->failure.step = step;
  // Visible before the kernel clears the slot's tid word at exit.
  __atomic_thread_fence(__ATOMIC_RELEASE);
  return 127;
}

KAIROS_CHILD_CODE int child_main(void* p) {
  auto* a = static_cast<ChildArgs*>(p);
  const ChildSpec& s = a->spec;
  // No handler of the daemon's may ever run in the child, and the job starts with
  // default dispositions (SIG_IGN would survive execve). Every signal is reset blindly:
  // 62 rt_sigaction calls cost the child less than finding the non-default ones in
  // /proc/self/status, and the parent less when it reaps the child
  // (the kernel drops the child's /proc dentries then).
  KernelSigaction dfl;
  for (int sig = 1; sig <= kMaxSignal; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sys(SYS_rt_sigaction, sig, reinterpret_cast<long>(&dfl), 0, kKernelSigsetSize);
  }
  long rc = sys(SYS_setpgid, 0, 0);
  if (rc != 0) return child_failed(a, "setpgid", rc);
  long out = s.output_fd;
  if (out < 3) {  // only if the daemon's own 0-2 were closed: move it out of the way
    out = sys(SYS_fcntl, out, F_DUPFD, 3);
    if (out < 0) return child_failed(a, "output", out);
  }
  long in = sys(SYS_openat, AT_FDCWD, reinterpret_cast<long>("/dev/null"), O_RDONLY);
  if (in < 0) return child_failed(a, "stdin", in);
  if (in != 0 && (rc = sys(SYS_dup3, in, 0, 0)) < 0) return child_failed(a, "stdin", rc);
  if ((rc = sys(SYS_dup3, out, 1, 0)) < 0 || (rc = sys(SYS_dup3, out, 2, 0)) < 0)
    return child_failed(a, "output", rc);
  if (s.working_dir && (rc = sys(SYS_chdir, reinterpret_cast<long>(s.working_dir))) != 0 &&
      !(s.fallback_dir && sys(SYS_chdir, reinterpret_cast<long>(s.fallback_dir)) == 0))
    return child_failed(a, "working_dir", rc);
  // Belt and braces: the daemon opens everything O_CLOEXEC, but a library might not.
  if (sys(SYS_close_range, 3, ~0U, 0) != 0) {
    for (unsigned long fd = 3; fd < a->max_fd; ++fd) sys(SYS_close, static_cast<long>(fd));
  }
  std::uint64_t empty = 0;
  sys(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&empty), 0, kKernelSigsetSize);
  rc = sys(SYS_execve, reinterpret_cast<long>(s.path), reinterpret_cast<long>(s.argv),
           reinterpret_cast<long>(s.envp));
  return child_failed(a, "exec", rc);
}

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

std::size_t count(char* const* list) {
  std::size_t n = 0;
  while (list && list[n]) ++n;
  return n;
}

}  // namespace

/// One child's memory: [guard page][stack][Slot][copies of path, argv, envp, dirs].
struct Spawner::Slot {
  void* map = nullptr;
  std::size_t map_size = 0;
  std::size_t capacity = 0;  // bytes available for the copies
  bool pooled = false;
  pid_t pid = 0;
  pid_t tid = 0;  // nonzero until the kernel clears it: the child exec'd or died
  ChildArgs args{};

  char* stack_top() { return reinterpret_cast<char*>(this); }
  char* blob() { return reinterpret_cast<char*>(this + 1); }
  bool done() const { return __atomic_load_n(&tid, __ATOMIC_ACQUIRE) == 0; }
};

Spawner::Spawner() {
  page_ = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY)
    max_fd_ = static_cast<unsigned long>(nofile.rlim_cur);
}

Spawner::~Spawner() {
  // A child that has not exec'd still runs on its slot: give it a moment, and never
  // unmap a slot that may be in use (a child that dumped core never clears its word).
  for (int waited_ms = 0; !in_flight_.empty() && waited_ms < 1000; ++waited_ms) {
    collect();
    if (!in_flight_.empty()) ::usleep(1000);
  }
  for (Slot* s : free_) ::munmap(s->map, s->map_size);
}

Spawner::Slot* Spawner::take_slot(std::size_t blob_size) {
  const bool pooled = blob_size <= kPooledBlob;
  if (pooled && !free_.empty()) {
    Slot* s = free_.back();
    free_.pop_back();
    return s;
  }
  const std::size_t top = round_up(sizeof(Slot) + (pooled ? kPooledBlob : blob_size), page_);
  const std::size_t size = page_ + kStackSize + top;
  void* map = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                     -1, 0);
  if (map == MAP_FAILED) return nullptr;
  ::mprotect(map, page_, PROT_NONE);  // guard page below the stack
  auto* s = new (static_cast<char*>(map) + page_ + kStackSize) Slot;
  s->map = map;
  s->map_size = size;
  s->capacity = top - sizeof(Slot);
  s->pooled = pooled;
  return s;
}

void Spawner::release(Slot* s) {
  if (s->pooled && free_.size() < kMaxPooled) {
    free_.push_back(s);
    return;
  }
  ::munmap(s->map, s->map_size);
}

void Spawner::collect() {
  for (std::size_t i = 0; i < in_flight_.size();) {
    Slot* s = in_flight_[i];
    if (!s->done()) {
      ++i;
      continue;
    }
    if (s->args.failure.error != 0) failed_.emplace_back(s->pid, s->args.failure);
    in_flight_[i] = in_flight_.back();
    in_flight_.pop_back();
    release(s);
  }
}

std::optional<SpawnFailure> Spawner::failure_of(pid_t pid) {
  collect();
  // Reaped but its word never cleared (it dumped core before execve): the slot is free.
  for (std::size_t i = 0; i < in_flight_.size(); ++i) {
    if (in_flight_[i]->pid != pid) continue;
    Slot* s = in_flight_[i];
    in_flight_[i] = in_flight_.back();
    in_flight_.pop_back();
    std::optional<SpawnFailure> f;
    if (s->args.failure.error != 0) f = s->args.failure;
    release(s);
    return f;
  }
  for (std::size_t i = 0; i < failed_.size(); ++i) {
    if (failed_[i].first != pid) continue;
    SpawnFailure f = failed_[i].second;
    failed_[i] = failed_.back();
    failed_.pop_back();
    return f;
  }
  return std::nullopt;
}

pid_t Spawner::spawn(const ChildSpec& spec, SpawnFailure* failure) {
  collect();
  // The child gets its own copy of everything it reads: the caller's buffers may be gone
  // before it gets to execve.
  const std::size_t argc = count(spec.argv), envc = count(spec.envp);
  std::size_t strings = 0;
  auto len = [](const char* p) { return p ? std::strlen(p) + 1 : 0; };
  strings += len(spec.path) + len(spec.working_dir) + len(spec.fallback_dir);
  for (std::size_t i = 0; i < argc; ++i) strings += len(spec.argv[i]);
  for (std::size_t i = 0; i < envc; ++i) strings += len(spec.envp[i]);
  const std::size_t blob_size = (argc + 1 + envc + 1) * sizeof(char*) + strings;
  Slot* slot = take_slot(blob_size);
  if (!slot) {
    if (failure) *failure = {errno, "mmap"};
    return -1;
  }
  auto** argv = reinterpret_cast<char**>(slot->blob());
  auto** envp = argv + argc + 1;
  char* next = reinterpret_cast<char*>(envp + envc + 1);
  auto copy = [&next](const char* p) -> char* {
    if (!p) return nullptr;
    std::size_t n = std::strlen(p) + 1;
    char* at = static_cast<char*>(std::memcpy(next, p, n));
    next += n;
    return at;
  };
  for (std::size_t i = 0; i < argc; ++i) argv[i] = copy(spec.argv[i]);
  argv[argc] = nullptr;
  for (std::size_t i = 0; i < envc; ++i) envp[i] = copy(spec.envp[i]);
  envp[envc] = nullptr;
  ChildArgs& a = slot->args;
  a.spec.path = copy(spec.path);
  a.spec.argv = argv;
  a.spec.envp = envp;
  a.spec.output_fd = spec.output_fd;
  a.spec.working_dir = copy(spec.working_dir);
  a.spec.fallback_dir = copy(spec.fallback_dir);
  a.max_fd = max_fd_;
  a.failure = {};
  slot->tid = -1;

  // Every signal blocked across clone: the child resets the dispositions before it
  // unblocks, so no handler of the daemon's runs in the child.
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, &old);
  const int flags = CLONE_VM | CLONE_CHILD_CLEARTID | SIGCHLD | (kWaitForExec ? CLONE_VFORK : 0);
  pid_t pid = ::clone(child_main, slot->stack_top(), flags, &a, nullptr, nullptr, &slot->tid);
  int clone_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) {
    release(slot);
    if (failure) *failure = {clone_errno, "clone"};
    return -1;
  }
  slot->pid = pid;
  in_flight_.push_back(slot);
  return pid;
}

}  // namespace kairos::async

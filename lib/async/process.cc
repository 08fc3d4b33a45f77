#include "async/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string_view>
#include <system_error>

#include "async/timeout.h"

namespace kairos::async {

// --- OutputTail ------------------------------------------------------------------

void OutputTail::append(const char* data, std::size_t n) {
  total_ += n;
  if (limit_ == 0) {
    truncated_ = truncated_ || n > 0;
    return;
  }
  if (n >= limit_) {
    buf_.assign(data + (n - limit_), limit_);
    truncated_ = truncated_ || total_ > limit_;
    return;
  }
  buf_.append(data, n);
  if (buf_.size() > 2 * limit_) {
    // Drop the front in one move: amortized O(1) per byte, memory <= 2*limit.
    buf_.erase(0, buf_.size() - limit_);
    truncated_ = true;
  }
}

std::string OutputTail::str() const {
  if (buf_.size() <= limit_) return buf_;
  return buf_.substr(buf_.size() - limit_);
}

// --- helpers -----------------------------------------------------------------------

std::optional<std::string> find_executable(const std::string& name, const std::string& path) {
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string::npos) return name;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + name;
    struct stat st{};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    start = end + 1;
  }
  return std::nullopt;
}

namespace {

std::string env_value(const std::vector<std::string>& env, const std::string& name) {
  for (const auto& kv : env) {
    if (kv.size() > name.size() && kv.compare(0, name.size(), name) == 0 && kv[name.size()] == '=')
      return kv.substr(name.size() + 1);
  }
  return {};
}

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int release() { return std::exchange(fd, -1); }
};

/// The scratch buffer children's output is read into: one per loop thread, made at the
/// first read, so threads that never read (libuv's pool) do not carry it as static TLS.
constexpr std::size_t kReadBufferSize = 64 * 1024;
char* read_buffer() {
  thread_local std::unique_ptr<char[]> buffer;
  if (!buffer) buffer.reset(new char[kReadBufferSize]);  // not zeroed: only read-into pages
  return buffer.get();                                   // become resident
}

/// "working_dir /x: No such file or directory", "cannot start /bin/x: Permission denied".
std::string describe(const SpawnFailure& f, const std::string& exe, const std::string& dir) {
  std::string why = std::strerror(f.error);
  std::string_view step = f.step;
  if (step == "working_dir") return "working_dir " + dir + ": " + why;
  if (step == "exec") return "cannot start " + exe + ": " + why;
  return "cannot start " + exe + " (" + std::string(step) + "): " + why;
}

}  // namespace

// --- Process -----------------------------------------------------------------------

Process::~Process() {
  if (!status_) {
    // Dropped while still running (daemon teardown): kill the group; the manager reaps
    // the leader as an unknown child later.
    signal_group(SIGKILL);
    pm_.forget(pid_);
  }
  pipe_.close();
}

void Process::signal_group(int sig) {
  if (pid_ > 0 && !status_) ::kill(-pid_, sig);
}

void Process::on_exit(int wait_status, const SpawnFailure* failure) {
  ExitStatus s;
  if (WIFEXITED(wait_status)) s.exit_code = WEXITSTATUS(wait_status);
  else if (WIFSIGNALED(wait_status)) s.signal = WTERMSIG(wait_status);
  if (failure) s.error = describe(*failure, exe_, working_dir_);
  status_ = s;
  exited_.set();
}

void Process::on_eof() {
  pipe_.close();
  eof_.set();
  // The write end closes when the child (and its group) exits, normally together with
  // SIGCHLD. Should a SIGCHLD ever go astray (a thread that does not block it), this
  // still reaps the child.
  if (!status_) pm_.reap();
}

Task<ExitStatus> Process::wait(std::chrono::milliseconds drain_limit) {
  co_await exited_.wait();
  if (!eof_.is_set()) {
    // The group was killed when the leader exited, so EOF normally follows at once;
    // only a descendant that escaped the group (setsid) can hold the pipe open.
    co_await with_timeout<bool>(drain_limit, {}, [this](CancelToken t) { return wait_eof(t); });
    if (!eof_.is_set()) on_eof();
  }
  co_return *status_;
}

Task<bool> Process::wait_eof(CancelToken t) { co_return co_await eof_.wait(std::move(t)); }

// --- ProcessManager ----------------------------------------------------------------

namespace {
sigset_t sigchld_only() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  return set;
}
}  // namespace

void block_sigchld() {
  sigset_t set = sigchld_only();
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

ProcessManager::ProcessManager(Loop& loop) : loop_(loop) {
  block_sigchld();
  sigset_t set = sigchld_only();
  sigfd_ = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sigfd_ < 0)
    throw std::system_error(errno, std::generic_category(), "signalfd(SIGCHLD)");
  if (int rc = sigchld_.init(uv_poll_init, loop_.uv(), sigfd_); rc != 0)
    throw std::system_error(-rc, std::generic_category(), "uv_poll_init(SIGCHLD)");
  sigchld_.get()->data = this;
  uv_poll_start(sigchld_.get(), UV_READABLE, [](uv_poll_t* p, int, int) {
    if (p->data) static_cast<ProcessManager*>(p->data)->on_sigchld();
  });
  uv_unref(sigchld_.base());
  // Children that exited before the watcher existed.
  reap();
}

ProcessManager::~ProcessManager() { close(); }

void ProcessManager::close() {
  if (closed_) return;
  closed_ = true;
  sigchld_.close();  // stops polling at once, so the fd can go now
  if (sigfd_ >= 0) ::close(sigfd_);
  sigfd_ = -1;
}

void ProcessManager::forget(pid_t pid) {
  live_.erase(pid);
  if (live_.empty() && referenced_ && !closed_) {
    uv_unref(sigchld_.base());
    referenced_ = false;
  }
}

void ProcessManager::on_sigchld() {
  // SIGCHLD is not a queued signal: however many children exited, one read empties the
  // signalfd, and reap() collects them all.
  signalfd_siginfo info;
  if (::read(sigfd_, &info, sizeof info) < 0) {
    // EAGAIN: already emptied; reap anyway, it is cheap and never wrong.
  }
  reap();
}

void ProcessManager::reap() {
  // Peek first (WNOWAIT) so a job's leftover group members are killed while the group id
  // is still reserved by the unreaped leader.
  for (;;) {
    siginfo_t info{};
    if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0) break;
    if (info.si_pid == 0) break;
    pid_t pid = info.si_pid;
    auto it = live_.find(pid);
    if (it != live_.end()) ::kill(-pid, SIGKILL);
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) <= 0) break;
    auto failure = spawner_.failure_of(pid);
    if (it == live_.end()) {
      ++orphans_reaped_;
      continue;
    }
    Process* p = it->second;
    forget(pid);
    p->on_exit(status, failure ? &*failure : nullptr);
  }
}

std::unique_ptr<Process> ProcessManager::spawn(const SpawnOptions& o, std::string* error) {
  auto fail = [&](std::string msg) -> std::unique_ptr<Process> {
    if (error) *error = std::move(msg);
    return nullptr;
  };
  if (o.argv.empty()) return fail("empty command");
  std::string path_var = env_value(o.env, "PATH");
  auto exe = find_executable(o.argv[0], path_var);
  if (!exe) return fail("command not found: " + o.argv[0] + " (PATH=" + path_var + ")");

  std::vector<std::string> args;
  if (o.uid) {
    // posix_spawn cannot change credentials; setpriv(1) does it, then execs the job.
    args = {"setpriv", "--reuid=" + std::to_string(*o.uid),
            "--regid=" + std::to_string(o.gid.value_or(*o.uid)), "--init-groups", "--", *exe};
    args.insert(args.end(), o.argv.begin() + 1, o.argv.end());
    exe = std::string("/usr/bin/setpriv");
  } else {
    args = o.argv;
  }
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(o.env.size() + 1);
  for (const auto& e : o.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return fail(std::string("pipe: ") + std::strerror(errno));
  Fd rd(fds[0]), wr(fds[1]);

  ChildSpec child;
  child.path = exe->c_str();
  child.argv = argv.data();
  child.envp = envp.data();
  child.output_fd = wr.fd;
  child.working_dir = o.working_dir.empty() ? nullptr : o.working_dir.c_str();
  child.fallback_dir = o.fallback_dir.empty() ? nullptr : o.fallback_dir.c_str();
  SpawnFailure failure;
  pid_t pid = spawner_.spawn(child, &failure);
  if (pid < 0) return fail(describe(failure, *exe, o.working_dir));
  // The child does this too; whichever runs first, the group exists when spawn() returns,
  // so a cancel that comes at once still reaches it. (EACCES once it has exec'd: fine.)
  ::setpgid(pid, pid);
  ::close(wr.release());  // the parent's copy of the write end must go, or EOF never comes

  std::unique_ptr<Process> p(new Process(*this, o.output_limit));
  p->pid_ = pid;
  p->exe_ = std::move(*exe);
  p->working_dir_ = o.working_dir;
  live_[pid] = p.get();
  if (!referenced_) {
    uv_ref(sigchld_.base());
    referenced_ = true;
  }
  must(p->pipe_.init(uv_pipe_init, loop_.uv(), 0), "uv_pipe_init");  // only fills the struct
  p->pipe_.get()->data = p.get();
  if (uv_pipe_open(p->pipe_.get(), rd.release()) != 0) {
    p->eof_.set();
    return p;
  }
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(p->pipe_.get()),
      [](uv_handle_t*, size_t, uv_buf_t* buf) {
        // One scratch buffer serves every pipe: libuv calls alloc and read back to back.
        *buf = uv_buf_init(read_buffer(), kReadBufferSize);
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* self = static_cast<Process*>(s->data);
        if (!self) return;
        if (n > 0) self->output_.append(buf->base, static_cast<std::size_t>(n));
        else if (n < 0) self->on_eof();
      });
  return p;
}

}  // namespace kairos::async

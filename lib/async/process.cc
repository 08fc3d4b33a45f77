#include "async/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

/// Owns the posix_spawn attribute and file-action objects.
struct SpawnPlan {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnPlan() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnPlan() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnPlan(const SpawnPlan&) = delete;
  SpawnPlan& operator=(const SpawnPlan&) = delete;
};

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

thread_local char t_read_buffer[64 * 1024];

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

void Process::on_exit(int wait_status) {
  ExitStatus s;
  if (WIFEXITED(wait_status)) s.exit_code = WEXITSTATUS(wait_status);
  else if (WIFSIGNALED(wait_status)) s.signal = WTERMSIG(wait_status);
  status_ = s;
  exited_.set();
}

void Process::on_eof() {
  pipe_.close();
  eof_.set();
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

ProcessManager::ProcessManager(Loop& loop) : loop_(loop) {
  uv_signal_init(loop_.uv(), sigchld_.get());
  sigchld_.mark_initialized();
  sigchld_.get()->data = this;
  uv_signal_start(
      sigchld_.get(),
      [](uv_signal_t* s, int) {
        if (s->data) static_cast<ProcessManager*>(s->data)->on_sigchld();
      },
      SIGCHLD);
  uv_unref(sigchld_.base());
  // Children that exited before the watcher existed.
  on_sigchld();
}

ProcessManager::~ProcessManager() { close(); }

void ProcessManager::close() {
  if (closed_) return;
  closed_ = true;
  sigchld_.close();
}

void ProcessManager::forget(pid_t pid) {
  live_.erase(pid);
  if (live_.empty() && referenced_ && !closed_) {
    uv_unref(sigchld_.base());
    referenced_ = false;
  }
}

void ProcessManager::on_sigchld() {
  // SIGCHLD coalesces: collect every child that has exited. Peek first (WNOWAIT) so a
  // job's leftover group members are killed while the group id is still reserved by
  // the unreaped leader.
  for (;;) {
    siginfo_t info{};
    if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0) break;
    if (info.si_pid == 0) break;
    pid_t pid = info.si_pid;
    auto it = live_.find(pid);
    if (it != live_.end()) ::kill(-pid, SIGKILL);
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) <= 0) break;
    if (it == live_.end()) {
      ++orphans_reaped_;
      continue;
    }
    Process* p = it->second;
    forget(pid);
    p->on_exit(status);
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

  SpawnPlan plan;
  posix_spawn_file_actions_addopen(&plan.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&plan.actions, wr.fd, 1);
  posix_spawn_file_actions_adddup2(&plan.actions, wr.fd, 2);
  if (!o.working_dir.empty())
    posix_spawn_file_actions_addchdir_np(&plan.actions, o.working_dir.c_str());
  // Belt and braces: the daemon opens everything O_CLOEXEC, but a library might not.
  posix_spawn_file_actions_addclosefrom_np(&plan.actions, 3);
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&plan.attr, &all);
  posix_spawnattr_setsigmask(&plan.attr, &none);
  posix_spawnattr_setpgroup(&plan.attr, 0);
  posix_spawnattr_setflags(&plan.attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_USEVFORK);

  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, exe->c_str(), &plan.actions, &plan.attr, argv.data(), envp.data());
  if (rc != 0) {
    if (rc == ENOENT && !o.working_dir.empty() && ::access(o.working_dir.c_str(), F_OK) != 0)
      return fail("working_dir " + o.working_dir + ": " + std::strerror(rc));
    return fail("cannot start " + *exe + ": " + std::strerror(rc));
  }
  ::close(wr.release());  // the parent's copy of the write end must go, or EOF never comes

  std::unique_ptr<Process> p(new Process(*this, o.output_limit));
  p->pid_ = pid;
  live_[pid] = p.get();
  if (!referenced_) {
    uv_ref(sigchld_.base());
    referenced_ = true;
  }
  uv_pipe_init(loop_.uv(), p->pipe_.get(), 0);
  p->pipe_.mark_initialized();
  p->pipe_.get()->data = p.get();
  if (uv_pipe_open(p->pipe_.get(), rd.release()) != 0) {
    p->eof_.set();
    return p;
  }
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(p->pipe_.get()),
      [](uv_handle_t*, size_t, uv_buf_t* buf) {
        // One scratch buffer serves every pipe: libuv calls alloc and read back to back.
        *buf = uv_buf_init(t_read_buffer, sizeof t_read_buffer);
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

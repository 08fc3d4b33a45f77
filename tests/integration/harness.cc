#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

namespace kairos::testing {

namespace fs = std::filesystem;

Millis now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds timeout,
              std::chrono::milliseconds poll) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(poll);
  }
  return cond();
}

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "kairos-it-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void TempDir::write(const std::string& name, const std::string& text) const {
  fs::create_directories(fs::path(file(name)).parent_path());
  std::ofstream(file(name)) << text;
}

Daemon::Daemon(const std::string& yaml, bool prepend_version) {
  dir_.write("kairos.yaml", prepend_version ? "version: 1\n" + yaml : yaml);
}

namespace {
/// Calls fn(pid, /proc/PID) for every process; fn returns true to stop.
bool any_process(const std::function<bool(pid_t, const fs::path&)>& fn) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    std::string name = e.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (fn(static_cast<pid_t>(std::stol(name)), e.path())) return true;
  }
  return false;
}

/// "S 1234" from /proc/PID/stat: the state letter and the parent's pid.
std::pair<char, pid_t> state_and_parent(const fs::path& proc) {
  std::ifstream f(proc / "stat");
  std::string line;
  std::getline(f, line);
  auto close = line.rfind(')');
  if (close == std::string::npos) return {'?', 0};
  std::istringstream rest(line.substr(close + 1));
  char state = '?';
  pid_t ppid = 0;
  rest >> state >> ppid;
  return {state, ppid};
}
}  // namespace

Daemon::~Daemon() {
  if (pid_ > 0) {
    // A test that failed mid-way: kairosd put each job in a process group of its own, which
    // a SIGKILL of kairosd alone would leave running (and a leftover `sleep 1000.x` would
    // upset the next run of the test). Frozen first, so it starts none meanwhile.
    ::kill(pid_, SIGSTOP);
    any_process([this](pid_t pid, const fs::path& proc) {
      if (state_and_parent(proc).second == pid_) ::kill(-pid, SIGKILL);
      return false;
    });
    ::kill(pid_, SIGKILL);
    int st;
    ::waitpid(pid_, &st, 0);
  }
}

void Daemon::rewrite_config(const std::string& yaml) const {
  dir_.write("kairos.yaml.tmp", "version: 1\n" + yaml);
  fs::rename(dir_.file("kairos.yaml.tmp"), config());
}

void Daemon::start(bool wait_ready, const std::vector<std::string>& extra_env) {
  std::string logf = dir_.file("kairosd.log");
  pid_ = ::fork();
  if (pid_ == 0) {
    for (const auto& e : extra_env) ::putenv(const_cast<char*>(e.c_str()));  // we exec next
    int fd = ::open(logf.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 2);
    ::dup2(fd, 1);
    ::execl(KAIROSD_PATH, "kairosd", "--config", config().c_str(), "--state-dir",
            dir_.path().c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  if (wait_ready) {
    bool up = wait_for([&] {
      int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::snprintf(a.sun_path, sizeof a.sun_path, "%s", socket().c_str());
      bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      ::close(fd);
      return ok;
    });
    if (!up) throw std::runtime_error("kairosd did not come up:\n" + log());
  }
}

void Daemon::signal(int sig) const { ::kill(pid_, sig); }

int Daemon::wait_exit(std::chrono::milliseconds timeout) {
  int st = 0;
  bool done = wait_for([&] { return ::waitpid(pid_, &st, WNOHANG) == pid_; }, timeout);
  if (!done) return -1;
  pid_ = -1;
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  return 128 + WTERMSIG(st);
}

void Daemon::stop() {
  signal(SIGTERM);
  int rc = wait_exit();
  if (rc != 0) throw std::runtime_error("kairosd exited " + std::to_string(rc) + ":\n" + log());
}

std::string Daemon::log() const {
  std::ifstream f(dir_.file("kairosd.log"));
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool Daemon::wait_for_log(const std::string& needle, std::chrono::milliseconds timeout) const {
  return wait_for([&] { return log().find(needle) != std::string::npos; }, timeout);
}

namespace {
struct Db {
  sqlite3* db = nullptr;
  explicit Db(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK)
      throw std::runtime_error("cannot open " + path);
    sqlite3_busy_timeout(db, 5000);
  }
  ~Db() { sqlite3_close(db); }
};
struct Stmt {
  sqlite3_stmt* s = nullptr;
  Stmt(sqlite3* db, const std::string& sql) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("sql: ") + sqlite3_errmsg(db) + " in " + sql);
  }
  ~Stmt() { sqlite3_finalize(s); }
  std::optional<std::int64_t> opt(int c) const {
    if (sqlite3_column_type(s, c) == SQLITE_NULL) return std::nullopt;
    return sqlite3_column_int64(s, c);
  }
  std::string text(int c) const {
    auto* p = static_cast<const char*>(sqlite3_column_blob(s, c));
    return p ? std::string(p, sqlite3_column_bytes(s, c)) : std::string();
  }
};
}  // namespace

std::vector<Row> Daemon::runs(const std::string& where) const {
  if (!fs::exists(db())) return {};
  Db d(db());
  Stmt st(d.db,
          "SELECT id, job, trigger, scheduled_at, started_at, finished_at, status, attempts, "
          "exit_code, signal, error, missed_count, missed_until FROM runs WHERE " +
              where + " ORDER BY id");
  std::vector<Row> out;
  while (sqlite3_step(st.s) == SQLITE_ROW) {
    Row r;
    r.id = sqlite3_column_int64(st.s, 0);
    r.job = st.text(1);
    r.trigger = st.text(2);
    r.scheduled_at = st.opt(3);
    r.started_at = st.opt(4);
    r.finished_at = st.opt(5);
    r.status = st.text(6);
    r.attempts = st.opt(7).value_or(0);
    r.exit_code = st.opt(8);
    r.signal = st.opt(9);
    r.error = st.text(10);
    r.missed_count = st.opt(11).value_or(0);
    r.missed_until = st.opt(12);
    out.push_back(r);
  }
  return out;
}

std::vector<AttemptRow> Daemon::attempts(std::int64_t run_id) const {
  Db d(db());
  Stmt st(d.db,
          "SELECT run_id, attempt, started_at, finished_at, status, exit_code, signal, output, "
          "output_truncated, error FROM attempts WHERE run_id = " +
              std::to_string(run_id) + " ORDER BY attempt");
  std::vector<AttemptRow> out;
  while (sqlite3_step(st.s) == SQLITE_ROW) {
    AttemptRow a;
    a.run_id = sqlite3_column_int64(st.s, 0);
    a.attempt = sqlite3_column_int64(st.s, 1);
    a.started_at = st.opt(2);
    a.finished_at = st.opt(3);
    a.status = st.text(4);
    a.exit_code = st.opt(5);
    a.signal = st.opt(6);
    a.output = st.text(7);
    a.truncated = st.opt(8).value_or(0) != 0;
    a.error = st.text(9);
    out.push_back(a);
  }
  return out;
}

std::int64_t Daemon::count(const std::string& sql) const {
  if (!fs::exists(db())) return 0;
  Db d(db());
  Stmt st(d.db, sql);
  if (sqlite3_step(st.s) != SQLITE_ROW) return 0;
  return sqlite3_column_int64(st.s, 0);
}

bool Daemon::wait_for_rows(const std::string& where, std::int64_t n,
                           std::chrono::milliseconds timeout) const {
  return wait_for([&] { return count("SELECT count(*) FROM runs WHERE " + where) >= n; }, timeout);
}

bool Daemon::wait_for_firings(const std::string& job, std::int64_t n,
                              std::chrono::milliseconds timeout) const {
  return wait_for_rows("job='" + job + "' AND scheduled_at > " + std::to_string(now_ms()) +
                           " AND finished_at IS NOT NULL AND status != 'missed'",
                       n, timeout);
}

std::int64_t Daemon::running_runs(const std::string& job) const {
  nlohmann::json params = {{"status", "running"}};
  if (!job.empty()) params["job"] = job;
  auto r = call("history", params);
  return r.contains("result") ? static_cast<std::int64_t>(r["result"]["runs"].size()) : 0;
}

nlohmann::json Daemon::call(const std::string& method, const nlohmann::json& params) const {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", socket().c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    throw std::runtime_error("connect failed");
  }
  nlohmann::json req = {{"jsonrpc", "2.0"}, {"id", 1}, {"method", method}};
  if (!params.is_null()) req["params"] = params;
  std::string line = req.dump() + "\n";
  if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    throw std::runtime_error("write failed");
  std::string buf;
  char tmp[65536];
  while (buf.find('\n') == std::string::npos) {
    ssize_t n = ::read(fd, tmp, sizeof tmp);
    if (n <= 0) break;
    buf.append(tmp, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return nlohmann::json::parse(buf.substr(0, buf.find('\n')));
}

int Daemon::ctl(const std::vector<std::string>& args, std::string* out) const {
  std::string cmd = std::string(KAIROSCTL_PATH) + " --socket '" + socket() + "'";
  for (const auto& a : args) cmd += " '" + a + "'";
  int status = 0;
  std::string o = sh(cmd + " 2>&1", &status);
  if (out) *out = o;
  return status;
}

std::string own(const std::string& marker) {
  return marker + std::to_string(::getpid());
}

bool process_exists(const std::string& needle) {
  return any_process([&](pid_t, const fs::path& proc) {
    std::ifstream f(proc / "cmdline");
    std::string cmd((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    for (char& c : cmd)
      if (c == '\0') c = ' ';
    // Ignore zombies: they have no cmdline anyway, but be explicit.
    return cmd.find(needle) != std::string::npos && cmd.find("pgrep") == std::string::npos &&
           state_and_parent(proc).first != 'Z';
  });
}

std::string sh(const std::string& cmd, int* status) {
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = ::pclose(p);
  if (status) *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

}  // namespace kairos::testing

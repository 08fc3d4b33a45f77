// Test harness: starts the real kairosd on a temp dir with a YAML config, reads the
// real history database, talks JSON-RPC over the real socket.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kairos::testing {

using Millis = std::int64_t;
Millis now_ms();

/// Polls `cond` every `poll` until it holds or `timeout` passes.
bool wait_for(const std::function<bool()>& cond,
              std::chrono::milliseconds timeout = std::chrono::seconds(10),
              std::chrono::milliseconds poll = std::chrono::milliseconds(10));

/// A line for a config's `jobs:` map: a job firing every 200 ms whose firings
/// (Daemon::wait_for_firings("clock", n)) show that time has passed in the daemon, so that a
/// test can then assert that something else did not happen meanwhile.
inline const std::string kClockJob = "  clock: {shell: \"true\", schedule: {every: 200ms}}\n";

struct Row {
  std::int64_t id = 0;
  std::string job, trigger, status, error;
  std::optional<Millis> scheduled_at, started_at, finished_at, missed_until;
  std::int64_t attempts = 0;
  std::optional<std::int64_t> exit_code, signal;
  std::int64_t missed_count = 0;
};

struct AttemptRow {
  std::int64_t run_id = 0, attempt = 0;
  std::optional<Millis> started_at, finished_at;
  std::string status, output, error;
  std::optional<std::int64_t> exit_code, signal;
  bool truncated = false;
};

/// A temp dir that is removed at the end.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  void write(const std::string& name, const std::string& text) const;

 private:
  std::string path_;
};

class Daemon {
 public:
  /// Writes `yaml` to DIR/kairos.yaml (the text after "version: 1\n").
  explicit Daemon(const std::string& jobs_yaml, bool prepend_version = true);
  ~Daemon();

  /// Starts kairosd; waits for its socket unless expect_failure. `extra_env` entries
  /// ("NAME=value") are added to kairosd's environment (e.g. NOTIFY_SOCKET).
  void start(bool wait_ready = true, const std::vector<std::string>& extra_env = {});
  /// Sends a signal.
  void signal(int sig) const;
  /// Waits for the process to exit; returns its exit code (or 128+signal).
  int wait_exit(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  /// SIGTERM + wait; expects exit 0.
  void stop();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  std::string log() const;
  /// Waits until kairosd's log (its stderr) contains `needle`.
  bool wait_for_log(const std::string& needle,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  void rewrite_config(const std::string& yaml) const;

  std::vector<Row> runs(const std::string& where = "1=1") const;
  std::vector<AttemptRow> attempts(std::int64_t run_id) const;
  std::int64_t count(const std::string& sql) const;
  /// Waits until at least `n` runs match `where`.
  bool wait_for_rows(const std::string& where, std::int64_t n,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  /// Waits until `n` firings of `job` scheduled after this call have finished: the daemon's
  /// loop has been through those instants, and (the history is written in order) everything
  /// it wrote before them is in the database.
  bool wait_for_firings(const std::string& job, std::int64_t n,
                        std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  /// How many runs (of `job`, if given) the daemon reports `running`, over its socket. The
  /// database learns of a run's start up to a second late: a short run may never say so.
  std::int64_t running_runs(const std::string& job = "") const;

  /// One JSON-RPC call; returns the whole response object.
  nlohmann::json call(const std::string& method, const nlohmann::json& params = nullptr) const;
  /// Runs kairosctl with --socket; returns exit code, fills *out with stdout.
  int ctl(const std::vector<std::string>& args, std::string* out = nullptr) const;

  const TempDir& dir() const { return dir_; }
  std::string socket() const { return dir_.file("kairosd.sock"); }
  std::string db() const { return dir_.file("history.db"); }
  std::string config() const { return dir_.file("kairos.yaml"); }

 private:
  TempDir dir_;
  pid_t pid_ = -1;
};

/// `marker` made this test process's own (its pid appended), for a job's command line that
/// process_exists() looks for: a concurrent run of the tests (another build) is not ours.
std::string own(const std::string& marker);
/// Whether any process's command line contains `needle`.
bool process_exists(const std::string& needle);
/// Runs a shell command, returns its stdout.
std::string sh(const std::string& cmd, int* status = nullptr);

}  // namespace kairos::testing

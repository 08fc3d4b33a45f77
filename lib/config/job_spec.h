// The loaded, validated form of a kairos configuration: what the daemon acts on.
// Everything here is plain data; config::load (loader.h) builds it from YAML.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace kairos::config {

using Duration = std::chrono::milliseconds;
using TimePoint = std::chrono::sys_time<std::chrono::milliseconds>;

/// A file's name, shared by every location in that file: 10,000 jobs read from one file
/// hold one copy of its path, not 10,000.
class FileName {
 public:
  FileName() = default;
  FileName(std::string name)  // NOLINT(google-explicit-constructor): a name is a name
      : name_(std::make_shared<const std::string>(std::move(name))) {}
  FileName(const char* name) : FileName(std::string(name)) {}  // NOLINT
  const std::string& str() const { return name_ ? *name_ : empty(); }
  operator const std::string&() const { return str(); }  // NOLINT
  friend bool operator==(const FileName& a, const FileName& b) {
    return a.name_ == b.name_ || a.str() == b.str();
  }
  friend std::strong_ordering operator<=>(const FileName& a, const FileName& b) {
    return a.str().compare(b.str()) <=> 0;
  }
  friend std::ostream& operator<<(std::ostream& os, const FileName& f) { return os << f.str(); }

 private:
  static const std::string& empty() {
    static const std::string e;
    return e;
  }
  std::shared_ptr<const std::string> name_;
};

/// Where a value came from, for diagnostics ("file:line:column").
struct SourceLoc {
  FileName file;
  int line = 0;    // 1-based
  int column = 0;  // 1-based
  bool operator==(const SourceLoc&) const = default;
};

enum class ScheduleKind { after, at, every, cron };

struct Schedule {
  ScheduleKind kind = ScheduleKind::after;
  Duration after{0};             // kind == after: delay after the daemon (re)starts
  TimePoint at{};                // kind == at: the instant
  Duration every{0};             // kind == every: the period
  Duration jitter{0};            // kind == every: each firing delayed by uniform [0, jitter]
  std::string cron;              // kind == cron: the expression as written
  std::string timezone = "UTC";  // kind == cron: IANA zone (job's, else defaults', else UTC)
  bool operator==(const Schedule&) const = default;
};

enum class Overlap { allow, forbid, replace, queue };
enum class CatchUpPolicy { none, last, all };

struct RetryPolicy {
  int attempts = 1;  // total attempts including the first; 1 = no retry
  Duration backoff{std::chrono::seconds(1)};
  double factor = 2.0;
  Duration max_backoff{std::chrono::hours(1)};
  double jitter = 0.0;  // 0..1: delay multiplied by uniform [1-jitter, 1+jitter]
  bool on_failure = true;
  bool on_timeout = true;
  bool operator==(const RetryPolicy&) const = default;
};

struct CatchUp {
  CatchUpPolicy policy = CatchUpPolicy::none;
  Duration max_age{0};  // 0 = no age limit
  bool operator==(const CatchUp&) const = default;
};

struct JobSpec {
  std::string name;
  std::string description;
  /// argv to execute. For `shell: STR` this is {"/bin/sh", "-c", STR}.
  std::vector<std::string> argv;
  bool is_shell = false;  // true when the job was written with `shell:`
  Schedule schedule;
  std::string working_dir;  // empty = the target user's home, else "/"
  std::map<std::string, std::string> env;
  Duration timeout{std::chrono::hours(1)};  // per attempt; 0 = none
  Duration kill_grace{std::chrono::seconds(10)};
  std::uint64_t output_limit = 64 * 1024;  // bytes of stdout+stderr tail kept per attempt
  bool enabled = true;
  RetryPolicy retry;
  Overlap concurrency = Overlap::forbid;
  int max_instances = 1;  // only with concurrency: allow
  std::string pool;       // empty = no pool
  CatchUp catch_up;
  std::string user;   // empty = the daemon's user
  std::string group;  // empty = the user's primary group
  SourceLoc loc;      // where the job's name was written
  /// Equality ignores nothing: a reload treats any difference as a changed job.
  bool operator==(const JobSpec&) const = default;
};

struct HistoryRetention {
  std::int64_t keep_per_job = 1000;
  Duration keep_for{std::chrono::hours(24 * 90)};
  bool operator==(const HistoryRetention&) const = default;
};

enum class OnRemove { finish, cancel };

struct DaemonConfig {
  std::string socket = "/run/kairos/kairosd.sock";
  unsigned socket_mode = 0660;
  std::string socket_group = "kairos";
  std::string database = "/var/lib/kairos/history.db";
  int max_concurrent_runs = 32;
  Duration shutdown_grace{std::chrono::seconds(30)};
  std::vector<std::string> include{"jobs.d/*.yaml"};
  HistoryRetention history;
  bool watch = false;  // reload when a config file changes
  OnRemove on_remove = OnRemove::finish;
  bool operator==(const DaemonConfig&) const = default;
};

struct Config {
  DaemonConfig daemon;
  std::map<std::string, int> pools;  // name -> slots
  std::vector<JobSpec> jobs;         // in file order, main file first
  std::vector<std::string> files;    // every file read (main + includes), for watching
};

}  // namespace kairos::config

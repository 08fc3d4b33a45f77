// Typed params and results of every control method. The daemon fills these and
// serialises them with to_json; kairosctl reads them with from_json. Field names are
// the stable snake_case wire names documented in docs/protocol.md; add fields, never
// rename them.
//
// Conventions on the wire:
//  - instants are INTEGER Unix milliseconds (UTC), as in the history schema; the CLI
//    formats them. "Absent" instants and codes are JSON null.
//  - durations are integer milliseconds, with an `_ms` suffix.
//  - status / trigger / state are the words of docs/history.md (lib/store/words.h).
//
// Decoding (from_json) is strict about types and throws DecodeError naming the field
// ("params.limit: expected integer, got string"); unknown fields are ignored so that a
// newer daemon can add fields without breaking an older CLI.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace kairos::protocol {

using json = nlohmann::json;
/// Unix milliseconds, UTC.
using Millis = std::int64_t;
using RunId = std::int64_t;

/// Thrown by from_json for input of the wrong shape; what() names the field.
class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Method names (they mirror the CLI commands).
namespace method {
inline constexpr std::string_view status = "status";
inline constexpr std::string_view list = "list";
inline constexpr std::string_view show = "show";
inline constexpr std::string_view run = "run";
inline constexpr std::string_view cancel = "cancel";
inline constexpr std::string_view pause = "pause";
inline constexpr std::string_view resume = "resume";
inline constexpr std::string_view history = "history";
inline constexpr std::string_view logs = "logs";
inline constexpr std::string_view reload = "reload";
inline constexpr std::string_view next = "next";
}  // namespace method

/// Every method above, in documentation order.
const std::vector<std::string_view>& all_methods();
bool is_known_method(std::string_view name);

// ---------------------------------------------------------------------------------
// Shared records

/// One run (a row of `runs`).
struct RunInfo {
  RunId id = 0;
  std::string job;
  std::string trigger;  // schedule | manual | catch_up
  std::optional<Millis> scheduled_at;
  std::optional<Millis> started_at;
  std::optional<Millis> finished_at;
  std::string status;  // queued | running | succeeded | failed | timed_out | cancelled | skipped |
                       // missed | interrupted
  int attempts = 0;    // attempts started so far
  std::optional<int> exit_code;  // of the last attempt
  std::optional<int> signal;     // of the last attempt
  std::string error;             // empty = none
  int missed_count = 0;          // firings coalesced into this one (catch-up / queue)
  bool operator==(const RunInfo&) const = default;
};

/// One attempt of a run (a row of `attempts`), with its captured output tail.
struct AttemptInfo {
  RunId run_id = 0;
  int attempt = 0;  // 1-based
  std::optional<Millis> started_at;
  std::optional<Millis> finished_at;
  std::string status;
  std::optional<int> exit_code;
  std::optional<int> signal;
  /// Raw bytes of the output tail. Invalid UTF-8 is replaced by U+FFFD when encoded.
  std::string output;
  bool output_truncated = false;
  std::string error;
  bool operator==(const AttemptInfo&) const = default;
};

/// A job as a line of `list`.
struct JobSummary {
  std::string name;
  /// Human form: "every 5m", "cron 30 2 * * * (Europe/Berlin)", "after 30s",
  /// "at 2027-01-01T03:00:00+01:00".
  std::string schedule;
  std::string state;                // active | paused | running | disabled | done
  std::vector<RunId> running_runs;  // ids of the job's queued or running runs
  std::optional<RunInfo> last;      // the most recent finished run
  std::optional<Millis> next_fire;  // null when paused, disabled or done
  bool operator==(const JobSummary&) const = default;
};

struct RetryInfo {
  int attempts = 1;
  std::int64_t backoff_ms = 0;
  double factor = 2.0;
  std::int64_t max_backoff_ms = 0;
  double jitter = 0.0;
  std::vector<std::string> on;  // "failure", "timeout"
  bool operator==(const RetryInfo&) const = default;
};

/// A job as loaded, for `show`. On the wire the JobSummary fields are inlined
/// (flat object), followed by these.
struct JobDetail {
  JobSummary summary;
  std::string description;
  std::vector<std::string> command;  // argv; for `shell:` jobs {"/bin/sh","-c",STR}
  std::string shell;                 // the `shell:` string, empty for argv jobs
  std::string timezone;              // cron jobs' zone, else empty
  std::string working_dir;
  std::string user;
  std::string pool;
  std::string concurrency;      // allow | forbid | replace | queue
  std::int64_t timeout_ms = 0;  // 0 = none
  std::int64_t kill_grace_ms = 0;
  std::uint64_t output_limit = 0;  // bytes
  RetryInfo retry;
  std::string catch_up;  // none | last | all
  std::int64_t catch_up_max_age_ms = 0;
  bool enabled = true;
  std::string source;                // "file:line:col" of the job's name
  std::vector<Millis> next_fires;    // up to 5
  std::vector<RunInfo> recent_runs;  // up to 10, newest first
  bool operator==(const JobDetail&) const = default;
};

struct NextFire {
  std::string job;
  Millis at = 0;
  bool operator==(const NextFire&) const = default;
};

// ---------------------------------------------------------------------------------
// Methods: <Name>Params (request params; all optional fields may be omitted) and
// <Name>Result. Methods without params accept `{}` or no params at all.

/// status → StatusInfo
struct StatusInfo {
  std::string version;
  std::int64_t pid = 0;
  std::int64_t uptime_ms = 0;
  std::string config_path;
  int jobs = 0;     // jobs loaded
  int paused = 0;   // jobs paused
  int running = 0;  // runs running now
  int queued = 0;   // runs waiting for a slot or behind a `queue` overlap
  std::vector<RunInfo> running_runs;
  std::optional<NextFire> next_fire;
  bool operator==(const StatusInfo&) const = default;
};

/// list → ListResult
struct ListResult {
  std::vector<JobSummary> jobs;
  bool operator==(const ListResult&) const = default;
};

/// show {job} → JobDetail (not_found)
struct JobParams {
  std::string job;
  bool operator==(const JobParams&) const = default;
};
using ShowParams = JobParams;

/// run {job, force?, wait?} → RunInfo (not_found, conflict with data {run_id, job}).
/// Without wait the reply comes at once with the new run (queued or running).
/// With wait: true the reply comes when the run has ended, with its final RunInfo
/// (the request stays open; the CLI shows elapsed time meanwhile).
struct RunParams {
  std::string job;
  bool force = false;  // start even when the overlap policy would refuse
  bool wait = false;
  bool operator==(const RunParams&) const = default;
};

/// cancel {run_id} | {job} (exactly one) → CancelResult (not_found)
struct CancelParams {
  std::optional<RunId> run_id;
  std::optional<std::string> job;
  bool operator==(const CancelParams&) const = default;
};
struct CancelResult {
  std::vector<RunId> cancelled;  // may be empty when the job had no active run
  bool operator==(const CancelResult&) const = default;
};

/// pause {job} / resume {job} → JobStateResult (not_found). Idempotent.
using PauseParams = JobParams;
using ResumeParams = JobParams;
struct JobStateResult {
  std::string job;
  std::string state;     // the state after the call
  bool changed = false;  // false when it already was paused / active
  bool operator==(const JobStateResult&) const = default;
};

/// history {job?, status?, since?, limit?} → HistoryResult, newest first.
struct HistoryParams {
  std::optional<std::string> job;
  std::optional<std::string> status;
  std::optional<Millis> since;  // runs scheduled or started at or after
  int limit = 50;               // 1..10000
  bool operator==(const HistoryParams&) const = default;
};
struct HistoryResult {
  std::vector<RunInfo> runs;
  bool operator==(const HistoryResult&) const = default;
};

/// logs {run_id} → LogsResult (not_found)
struct LogsParams {
  RunId run_id = 0;
  bool operator==(const LogsParams&) const = default;
};
struct LogsResult {
  RunInfo run;
  std::vector<AttemptInfo> attempts;  // in attempt order
  bool operator==(const LogsResult&) const = default;
};

/// reload → ReloadResult. A config with errors is reported with ok=false and the
/// old config stays in force (a result, not an RPC error, so the CLI can print all
/// diagnostics; exit 1).
struct ReloadResult {
  bool ok = false;
  std::vector<std::string> errors;  // "file:line:col: message"
  std::vector<std::string> added;   // job names
  std::vector<std::string> removed;
  std::vector<std::string> changed;
  std::vector<std::string> unchanged;
  bool operator==(const ReloadResult&) const = default;
};

/// next {job, count?} → NextResult (not_found). `count` 1..1000, default 5.
struct NextParams {
  std::string job;
  int count = 5;
  bool operator==(const NextParams&) const = default;
};
struct NextResult {
  std::string job;
  std::string timezone;       // zone to display the instants in (cron jobs), else "UTC"
  std::vector<Millis> fires;  // strictly increasing; fewer than count when the job ends
  bool operator==(const NextResult&) const = default;
};

// ---------------------------------------------------------------------------------
// JSON conversions (ADL). from_json throws DecodeError.

#define KAIROS_PROTOCOL_JSON(T)      \
  void to_json(json& j, const T& v); \
  void from_json(const json& j, T& v);
KAIROS_PROTOCOL_JSON(RunInfo)
KAIROS_PROTOCOL_JSON(AttemptInfo)
KAIROS_PROTOCOL_JSON(JobSummary)
KAIROS_PROTOCOL_JSON(RetryInfo)
KAIROS_PROTOCOL_JSON(JobDetail)
KAIROS_PROTOCOL_JSON(NextFire)
KAIROS_PROTOCOL_JSON(StatusInfo)
KAIROS_PROTOCOL_JSON(ListResult)
KAIROS_PROTOCOL_JSON(JobParams)
KAIROS_PROTOCOL_JSON(RunParams)
KAIROS_PROTOCOL_JSON(CancelParams)
KAIROS_PROTOCOL_JSON(CancelResult)
KAIROS_PROTOCOL_JSON(JobStateResult)
KAIROS_PROTOCOL_JSON(HistoryParams)
KAIROS_PROTOCOL_JSON(HistoryResult)
KAIROS_PROTOCOL_JSON(LogsParams)
KAIROS_PROTOCOL_JSON(LogsResult)
KAIROS_PROTOCOL_JSON(ReloadResult)
KAIROS_PROTOCOL_JSON(NextParams)
KAIROS_PROTOCOL_JSON(NextResult)
#undef KAIROS_PROTOCOL_JSON

/// Decodes `params` (an object, or null for "absent") into T; on failure returns
/// nullopt and sets *error to a message naming the field. Never throws.
template <class T>
std::optional<T> decode(const json& params, std::string* error) {
  try {
    T out{};
    // No copy of `params`: copying JSON recurses per nesting level.
    if (params.is_null())
      from_json(json::object(), out);
    else
      from_json(params, out);
    return out;
  } catch (const DecodeError& e) {
    if (error) *error = e.what();
  } catch (const json::exception& e) {
    if (error) *error = e.what();
  }
  return std::nullopt;
}

/// Checks `params` of a known method against its Params type (the server calls this
/// before the handler, so handlers may assume decode<...Params> succeeds).
/// Returns an empty string when valid, else the message for an invalid_params error.
std::string validate_params(std::string_view method, const json& params);

/// Serialises any JSON for the wire: one line, no trailing newline, invalid UTF-8
/// in strings replaced by U+FFFD instead of throwing.
std::string dump_line(const json& j);

}  // namespace kairos::protocol

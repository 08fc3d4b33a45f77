#include "protocol/messages.h"

#include <algorithm>
#include <limits>

#include "protocol/errors.h"

namespace kairos::protocol {
namespace {

const char* type_name(const json& j) {
  if (j.is_number_integer()) return "integer";
  if (j.is_number_float()) return "number";
  return j.type_name();
}

[[noreturn]] void fail(std::string_view key, std::string_view want, const json& got) {
  throw DecodeError(std::string(key) + ": expected " + std::string(want) + ", got " +
                    type_name(got));
}

// Field readers. Each one checks the JSON type before converting, so a wrong type is
// a DecodeError naming the field, never an nlohmann exception or a silent coercion.
void read_value(std::string_view key, const json& j, std::string& out) {
  if (!j.is_string()) fail(key, "string", j);
  out = j.get<std::string>();
}
void read_value(std::string_view key, const json& j, bool& out) {
  if (!j.is_boolean()) fail(key, "boolean", j);
  out = j.get<bool>();
}
void read_value(std::string_view key, const json& j, std::int64_t& out) {
  if (j.is_number_unsigned()) {
    if (j.get<std::uint64_t>() > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
      fail(key, "integer in range", j);
    out = std::int64_t(j.get<std::uint64_t>());
    return;
  }
  if (!j.is_number_integer()) fail(key, "integer", j);
  out = j.get<std::int64_t>();
}
void read_value(std::string_view key, const json& j, std::uint64_t& out) {
  if (!j.is_number_unsigned()) fail(key, "non-negative integer", j);
  out = j.get<std::uint64_t>();
}
void read_value(std::string_view key, const json& j, int& out) {
  std::int64_t v = 0;
  read_value(key, j, v);
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
    throw DecodeError(std::string(key) + ": integer out of range");
  out = int(v);
}
void read_value(std::string_view key, const json& j, double& out) {
  if (!j.is_number()) fail(key, "number", j);
  out = j.get<double>();
}
template <class T>
void read_value(std::string_view key, const json& j, T& out) requires requires {
  from_json(j, out);
}
{
  if (!j.is_object()) fail(key, "object", j);
  try {
    from_json(j, out);
  } catch (const DecodeError& e) {
    throw DecodeError(std::string(key) + "." + e.what());
  }
}
template <class T>
void read_value(std::string_view key, const json& j, std::optional<T>& out) {
  if (j.is_null()) {
    out.reset();
    return;
  }
  T v{};
  read_value(key, j, v);
  out = std::move(v);
}
template <class T>
void read_value(std::string_view key, const json& j, std::vector<T>& out) {
  if (!j.is_array()) fail(key, "array", j);
  out.clear();
  out.reserve(j.size());
  for (std::size_t i = 0; i < j.size(); ++i) {
    T v{};
    read_value(std::string(key) + "[" + std::to_string(i) + "]", j[i], v);
    out.push_back(std::move(v));
  }
}

void require_object(const json& j) {
  if (!j.is_object()) throw DecodeError(std::string("expected object, got ") + type_name(j));
}

/// Optional field: absent (or null) leaves the default.
template <class T>
void opt(const json& j, const char* key, T& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  read_value(key, *it, out);
}
template <class T>
void opt(const json& j, const char* key, std::optional<T>& out) {
  auto it = j.find(key);
  if (it == j.end()) return;
  read_value(key, *it, out);
}
/// Required field.
template <class T>
void req(const json& j, const char* key, T& out) {
  auto it = j.find(key);
  if (it == j.end()) throw DecodeError(std::string(key) + ": missing");
  read_value(key, *it, out);
}

template <class T>
json opt_json(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

void summary_to_json(json& j, const JobSummary& v) {
  j["name"] = v.name;
  j["schedule"] = v.schedule;
  j["state"] = v.state;
  j["running_runs"] = v.running_runs;
  j["last"] = opt_json(v.last);
  j["next_fire"] = opt_json(v.next_fire);
}

void summary_from_json(const json& j, JobSummary& v) {
  require_object(j);
  req(j, "name", v.name);
  opt(j, "schedule", v.schedule);
  opt(j, "state", v.state);
  opt(j, "running_runs", v.running_runs);
  opt(j, "last", v.last);
  opt(j, "next_fire", v.next_fire);
}

void check_nonempty(std::string_view key, const std::string& s) {
  if (s.empty()) throw DecodeError(std::string(key) + ": must not be empty");
}

}  // namespace

const std::vector<std::string_view>& all_methods() {
  static const std::vector<std::string_view> methods = {
      method::status, method::list,    method::show, method::run,    method::cancel, method::pause,
      method::resume, method::history, method::logs, method::reload, method::next};
  return methods;
}

bool is_known_method(std::string_view name) {
  const auto& m = all_methods();
  return std::find(m.begin(), m.end(), name) != m.end();
}

void to_json(json& j, const RunInfo& v) {
  j = json{{"id", v.id},
           {"job", v.job},
           {"trigger", v.trigger},
           {"scheduled_at", opt_json(v.scheduled_at)},
           {"started_at", opt_json(v.started_at)},
           {"finished_at", opt_json(v.finished_at)},
           {"status", v.status},
           {"attempts", v.attempts},
           {"exit_code", opt_json(v.exit_code)},
           {"signal", opt_json(v.signal)},
           {"error", v.error},
           {"missed_count", v.missed_count}};
}
void from_json(const json& j, RunInfo& v) {
  require_object(j);
  req(j, "id", v.id);
  opt(j, "job", v.job);
  opt(j, "trigger", v.trigger);
  opt(j, "scheduled_at", v.scheduled_at);
  opt(j, "started_at", v.started_at);
  opt(j, "finished_at", v.finished_at);
  opt(j, "status", v.status);
  opt(j, "attempts", v.attempts);
  opt(j, "exit_code", v.exit_code);
  opt(j, "signal", v.signal);
  opt(j, "error", v.error);
  opt(j, "missed_count", v.missed_count);
}

void to_json(json& j, const AttemptInfo& v) {
  j = json{{"run_id", v.run_id},
           {"attempt", v.attempt},
           {"started_at", opt_json(v.started_at)},
           {"finished_at", opt_json(v.finished_at)},
           {"status", v.status},
           {"exit_code", opt_json(v.exit_code)},
           {"signal", opt_json(v.signal)},
           {"output", v.output},
           {"output_truncated", v.output_truncated},
           {"error", v.error}};
}
void from_json(const json& j, AttemptInfo& v) {
  require_object(j);
  opt(j, "run_id", v.run_id);
  req(j, "attempt", v.attempt);
  opt(j, "started_at", v.started_at);
  opt(j, "finished_at", v.finished_at);
  opt(j, "status", v.status);
  opt(j, "exit_code", v.exit_code);
  opt(j, "signal", v.signal);
  opt(j, "output", v.output);
  opt(j, "output_truncated", v.output_truncated);
  opt(j, "error", v.error);
}

void to_json(json& j, const JobSummary& v) {
  j = json::object();
  summary_to_json(j, v);
}
void from_json(const json& j, JobSummary& v) {
  summary_from_json(j, v);
}

void to_json(json& j, const RetryInfo& v) {
  j = json{{"attempts", v.attempts}, {"backoff_ms", v.backoff_ms},
           {"factor", v.factor},     {"max_backoff_ms", v.max_backoff_ms},
           {"jitter", v.jitter},     {"on", v.on}};
}
void from_json(const json& j, RetryInfo& v) {
  require_object(j);
  opt(j, "attempts", v.attempts);
  opt(j, "backoff_ms", v.backoff_ms);
  opt(j, "factor", v.factor);
  opt(j, "max_backoff_ms", v.max_backoff_ms);
  opt(j, "jitter", v.jitter);
  opt(j, "on", v.on);
}

void to_json(json& j, const JobDetail& v) {
  j = json::object();
  summary_to_json(j, v.summary);
  j["description"] = v.description;
  j["command"] = v.command;
  j["shell"] = v.shell;
  j["timezone"] = v.timezone;
  j["working_dir"] = v.working_dir;
  j["user"] = v.user;
  j["pool"] = v.pool;
  j["concurrency"] = v.concurrency;
  j["timeout_ms"] = v.timeout_ms;
  j["kill_grace_ms"] = v.kill_grace_ms;
  j["output_limit"] = v.output_limit;
  j["retry"] = v.retry;
  j["catch_up"] = v.catch_up;
  j["catch_up_max_age_ms"] = v.catch_up_max_age_ms;
  j["enabled"] = v.enabled;
  j["source"] = v.source;
  j["next_fires"] = v.next_fires;
  j["recent_runs"] = v.recent_runs;
}
void from_json(const json& j, JobDetail& v) {
  summary_from_json(j, v.summary);
  opt(j, "description", v.description);
  opt(j, "command", v.command);
  opt(j, "shell", v.shell);
  opt(j, "timezone", v.timezone);
  opt(j, "working_dir", v.working_dir);
  opt(j, "user", v.user);
  opt(j, "pool", v.pool);
  opt(j, "concurrency", v.concurrency);
  opt(j, "timeout_ms", v.timeout_ms);
  opt(j, "kill_grace_ms", v.kill_grace_ms);
  opt(j, "output_limit", v.output_limit);
  opt(j, "retry", v.retry);
  opt(j, "catch_up", v.catch_up);
  opt(j, "catch_up_max_age_ms", v.catch_up_max_age_ms);
  opt(j, "enabled", v.enabled);
  opt(j, "source", v.source);
  opt(j, "next_fires", v.next_fires);
  opt(j, "recent_runs", v.recent_runs);
}

void to_json(json& j, const NextFire& v) {
  j = json{{"job", v.job}, {"at", v.at}};
}
void from_json(const json& j, NextFire& v) {
  require_object(j);
  req(j, "job", v.job);
  req(j, "at", v.at);
}

void to_json(json& j, const StatusInfo& v) {
  j = json{{"version", v.version},
           {"pid", v.pid},
           {"uptime_ms", v.uptime_ms},
           {"config_path", v.config_path},
           {"jobs", v.jobs},
           {"paused", v.paused},
           {"running", v.running},
           {"queued", v.queued},
           {"running_runs", v.running_runs},
           {"next_fire", opt_json(v.next_fire)}};
}
void from_json(const json& j, StatusInfo& v) {
  require_object(j);
  opt(j, "version", v.version);
  opt(j, "pid", v.pid);
  opt(j, "uptime_ms", v.uptime_ms);
  opt(j, "config_path", v.config_path);
  opt(j, "jobs", v.jobs);
  opt(j, "paused", v.paused);
  opt(j, "running", v.running);
  opt(j, "queued", v.queued);
  opt(j, "running_runs", v.running_runs);
  opt(j, "next_fire", v.next_fire);
}

void to_json(json& j, const ListResult& v) {
  j = json{{"jobs", v.jobs}};
}
void from_json(const json& j, ListResult& v) {
  require_object(j);
  req(j, "jobs", v.jobs);
}

void to_json(json& j, const JobParams& v) {
  j = json{{"job", v.job}};
}
void from_json(const json& j, JobParams& v) {
  require_object(j);
  req(j, "job", v.job);
  check_nonempty("job", v.job);
}

void to_json(json& j, const RunParams& v) {
  j = json{{"job", v.job}, {"force", v.force}, {"wait", v.wait}};
}
void from_json(const json& j, RunParams& v) {
  require_object(j);
  req(j, "job", v.job);
  check_nonempty("job", v.job);
  opt(j, "force", v.force);
  opt(j, "wait", v.wait);
}

void to_json(json& j, const CancelParams& v) {
  j = json::object();
  if (v.run_id) j["run_id"] = *v.run_id;
  if (v.job) j["job"] = *v.job;
}
void from_json(const json& j, CancelParams& v) {
  require_object(j);
  opt(j, "run_id", v.run_id);
  opt(j, "job", v.job);
  if (v.run_id.has_value() == v.job.has_value())
    throw DecodeError("exactly one of run_id and job is required");
  if (v.job) check_nonempty("job", *v.job);
}

void to_json(json& j, const CancelResult& v) {
  j = json{{"cancelled", v.cancelled}};
}
void from_json(const json& j, CancelResult& v) {
  require_object(j);
  opt(j, "cancelled", v.cancelled);
}

void to_json(json& j, const JobStateResult& v) {
  j = json{{"job", v.job}, {"state", v.state}, {"changed", v.changed}};
}
void from_json(const json& j, JobStateResult& v) {
  require_object(j);
  opt(j, "job", v.job);
  opt(j, "state", v.state);
  opt(j, "changed", v.changed);
}

void to_json(json& j, const HistoryParams& v) {
  j = json{{"limit", v.limit}};
  if (v.job) j["job"] = *v.job;
  if (v.status) j["status"] = *v.status;
  if (v.since) j["since"] = *v.since;
}
void from_json(const json& j, HistoryParams& v) {
  require_object(j);
  opt(j, "job", v.job);
  opt(j, "status", v.status);
  opt(j, "since", v.since);
  opt(j, "limit", v.limit);
  if (v.limit < 1 || v.limit > 10000) throw DecodeError("limit: must be in 1..10000");
}

void to_json(json& j, const HistoryResult& v) {
  j = json{{"runs", v.runs}};
}
void from_json(const json& j, HistoryResult& v) {
  require_object(j);
  req(j, "runs", v.runs);
}

void to_json(json& j, const LogsParams& v) {
  j = json{{"run_id", v.run_id}};
}
void from_json(const json& j, LogsParams& v) {
  require_object(j);
  req(j, "run_id", v.run_id);
}

void to_json(json& j, const LogsResult& v) {
  j = json{{"run", v.run}, {"attempts", v.attempts}};
}
void from_json(const json& j, LogsResult& v) {
  require_object(j);
  req(j, "run", v.run);
  opt(j, "attempts", v.attempts);
}

void to_json(json& j, const ReloadResult& v) {
  j = json{{"ok", v.ok},           {"errors", v.errors},   {"added", v.added},
           {"removed", v.removed}, {"changed", v.changed}, {"unchanged", v.unchanged}};
}
void from_json(const json& j, ReloadResult& v) {
  require_object(j);
  req(j, "ok", v.ok);
  opt(j, "errors", v.errors);
  opt(j, "added", v.added);
  opt(j, "removed", v.removed);
  opt(j, "changed", v.changed);
  opt(j, "unchanged", v.unchanged);
}

void to_json(json& j, const NextParams& v) {
  j = json{{"job", v.job}, {"count", v.count}};
}
void from_json(const json& j, NextParams& v) {
  require_object(j);
  req(j, "job", v.job);
  check_nonempty("job", v.job);
  opt(j, "count", v.count);
  if (v.count < 1 || v.count > 1000) throw DecodeError("count: must be in 1..1000");
}

void to_json(json& j, const NextResult& v) {
  j = json{{"job", v.job}, {"timezone", v.timezone}, {"fires", v.fires}};
}
void from_json(const json& j, NextResult& v) {
  require_object(j);
  opt(j, "job", v.job);
  opt(j, "timezone", v.timezone);
  opt(j, "fires", v.fires);
}

namespace {
struct Empty {};
void from_json(const json& j, Empty&) {
  require_object(j);
}

template <class T>
std::string check(const json& params) {
  std::string err;
  if (decode<T>(params, &err)) return {};
  return err.empty() ? "invalid params" : err;
}
}  // namespace

std::string validate_params(std::string_view m, const json& params) {
  if (m == method::status || m == method::list || m == method::reload) return check<Empty>(params);
  if (m == method::show || m == method::pause || m == method::resume)
    return check<JobParams>(params);
  if (m == method::run) return check<RunParams>(params);
  if (m == method::cancel) return check<CancelParams>(params);
  if (m == method::history) return check<HistoryParams>(params);
  if (m == method::logs) return check<LogsParams>(params);
  if (m == method::next) return check<NextParams>(params);
  return "unknown method";
}

std::string dump_line(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

const char* error_name(int code) {
  switch (code) {
    case errc::parse_error:
      return "parse_error";
    case errc::invalid_request:
      return "invalid_request";
    case errc::method_not_found:
      return "method_not_found";
    case errc::invalid_params:
      return "invalid_params";
    case errc::internal_error:
      return "internal_error";
    case errc::not_found:
      return "not_found";
    case errc::conflict:
      return "conflict";
    case errc::config_invalid:
      return "config_invalid";
    case errc::access_denied:
      return "access_denied";
    case errc::request_too_large:
      return "request_too_large";
    case errc::shutting_down:
      return "shutting_down";
    case errc::invalid_state:
      return "invalid_state";
    default:
      return "error";
  }
}

void to_json(json& j, const Error& e) {
  j = json{{"code", e.code}, {"message", e.message}};
  if (!e.data.is_null()) j["data"] = e.data;
}
void from_json(const json& j, Error& e) {
  require_object(j);
  req(j, "code", e.code);
  req(j, "message", e.message);
  auto it = j.find("data");
  e.data = it == j.end() ? json() : *it;
}

}  // namespace kairos::protocol

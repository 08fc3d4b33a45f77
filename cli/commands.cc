// The commands that talk to kairosd.
#include "store/words.h"
#include "cli/commands.h"

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iostream>

#include "cli/client.h"
#include "config/loader.h"
#include "protocol/messages.h"
#include "schedule/rfc3339.h"

namespace kairos::cli {

namespace proto = kairos::protocol;
using nlohmann::json;

int fail(const Context& ctx, int code, const std::string& message, const std::string& kind) {
  std::cerr << "kairosctl: " << message << "\n";
  if (ctx.json) {
    std::cout << proto::dump_line(json{{"error", {{"kind", kind}, {"message", message}}}}) << "\n";
  }
  return code;
}

namespace {

/// The outcome of one call: a decoded result, or the exit code already reported.
template <class T>
struct Called {
  std::optional<T> value;
  json raw;
  int exit = kOk;
};

/// Prints an RPC error the way users want to read it; exit 1 (2 for our own bugs in
/// request shape, which are usage errors from the user's point of view).
int report_rpc_error(const Context& ctx, const proto::Error& e) {
  if (ctx.json) {
    std::cout << proto::dump_line(json{{"error", e}}) << "\n";
  }
  std::string msg = e.message;
  if (e.code == proto::errc::conflict && msg.find("--force") == std::string::npos)
    msg += " (use --force to start another run anyway)";
  std::cerr << "kairosctl: " << msg << "\n";
  if (e.code == proto::errc::config_invalid && e.data.is_object() && e.data.contains("errors") &&
      e.data["errors"].is_array()) {
    for (const auto& d : e.data["errors"])
      if (d.is_string()) std::cerr << "  " << d.get<std::string>() << "\n";
  }
  if (e.code == proto::errc::invalid_params || e.code == proto::errc::method_not_found)
    return kUsage;
  return kFailed;
}

template <class T>
Called<T> call(const Context& ctx, std::string_view method, const json& params,
               std::chrono::milliseconds timeout = std::chrono::seconds(60),
               const std::function<void()>& tick = {}) {
  Called<T> out;
  Unreachable why;
  auto client = Client::connect(ctx.socket, &why);
  if (!client) {
    out.exit = fail(ctx, kUnreachable, why.message, "unreachable");
    return out;
  }
  auto outcome = client->call(method, params, &why, timeout, tick);
  if (auto* e = std::get_if<proto::Error>(&outcome)) {
    if (!why.message.empty()) {
      out.exit = fail(ctx, kUnreachable, why.message, "unreachable");
    } else {
      out.exit = report_rpc_error(ctx, *e);
    }
    return out;
  }
  out.raw = std::move(std::get<json>(outcome));
  std::string err;
  out.value = proto::decode<T>(out.raw, &err);
  if (!out.value) {
    out.exit = fail(ctx, kFailed,
                    "unexpected reply from kairosd to '" + std::string(method) + "': " + err);
  }
  return out;
}

void print_json(const json& j) {
  std::cout << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
}

std::string or_dash(const std::string& s) {
  return s.empty() ? "-" : s;
}

/// "failed 3m ago, exit 2" / "succeeded 12s ago" / "running since 5s".
std::string describe_last(const proto::RunInfo& r, std::int64_t now) {
  std::optional<std::int64_t> when = r.finished_at  ? r.finished_at
                                     : r.started_at ? r.started_at
                                                    : r.scheduled_at;
  std::string s = r.status;
  if (when) s += " " + relative(*when, now);
  if (r.status != store::to_string(store::RunStatus::succeeded)) {
    if (r.exit_code && *r.exit_code != 0)
      s += ", exit " + std::to_string(*r.exit_code);
    else if (r.signal)
      s += ", signal " + std::to_string(*r.signal);
  }
  return s;
}

std::string next_text(const std::optional<std::int64_t>& at, std::int64_t now) {
  if (!at) return "-";
  return relative(*at, now) + " (" + local_time(*at, now) + ")";
}

/// "exit 2 after 3 attempts", "signal 9", "timed out", used by run --wait and show.
std::string why_text(const proto::RunInfo& r) {
  std::string s;
  if (r.exit_code)
    s = "exit " + std::to_string(*r.exit_code);
  else if (r.signal)
    s = "signal " + std::to_string(*r.signal);
  // The daemon's error often restates the exit code ("exit code 2"); say it once.
  bool restates = r.exit_code && (r.error == "exit code " + std::to_string(*r.exit_code) ||
                                  r.error == "exit status " + std::to_string(*r.exit_code));
  if (!r.error.empty() && !restates) s += (s.empty() ? "" : ", ") + r.error;
  if (r.attempts > 1)
    s += (s.empty() ? "" : " ") + std::string("after ") + std::to_string(r.attempts) + " attempts";
  return s;
}

std::string run_duration(const proto::RunInfo& r, std::int64_t now) {
  if (!r.started_at) return "-";
  std::int64_t end = r.finished_at ? *r.finished_at : now;
  return short_duration(end - *r.started_at, true);
}

void add_run_rows(Table& t, const std::vector<proto::RunInfo>& runs, std::int64_t now,
                  bool with_job) {
  for (const auto& r : runs) {
    std::optional<std::int64_t> when = r.started_at ? r.started_at : r.scheduled_at;
    std::string result = why_text(r);
    std::vector<std::string> cells = {std::to_string(r.id)};
    std::vector<Color> colors = {Color::none};
    if (with_job) {
      cells.push_back(r.job);
      colors.push_back(Color::none);
    }
    cells.insert(cells.end(),
                 {r.trigger, when ? local_datetime(*when) : "-", when ? relative(*when, now) : "",
                  run_duration(r, now), r.status, std::to_string(r.attempts), or_dash(result)});
    colors.insert(colors.end(), {Color::none, Color::none, Color::dim, Color::none,
                                 status_color(r.status), Color::none, Color::none});
    t.add(std::move(cells), std::move(colors));
  }
}

Table run_table(bool with_job) {
  std::vector<Table::Column> cols = {{"RUN", false, true}};
  if (with_job) cols.push_back({"JOB", true, false});
  cols.insert(cols.end(), {{"TRIGGER"},
                           {"STARTED"},
                           {"AGE"},
                           {"DURATION", false, true},
                           {"STATUS"},
                           {"ATTEMPTS", false, true},
                           {"RESULT", true, false}});
  return Table(std::move(cols));
}

}  // namespace

int cmd_status(const Context& ctx) {
  auto r = call<proto::StatusInfo>(ctx, proto::method::status, nullptr);
  if (!r.value) return r.exit;
  if (ctx.json) {
    print_json(r.raw);
    return kOk;
  }
  const auto& s = *r.value;
  auto now = now_ms();
  std::cout << paint(ctx.term, Color::bold, "kairosd " + s.version) << " (pid " << s.pid << "), up "
            << short_duration(s.uptime_ms) << "\n";
  std::cout << "config   " << or_dash(s.config_path) << "\n";
  std::cout << "jobs     " << s.jobs;
  if (s.paused) std::cout << " (" << s.paused << " paused)";
  std::cout << "\n";
  std::cout << "runs     " << s.running << " running, " << s.queued << " queued\n";
  std::cout << "next     ";
  if (s.next_fire)
    std::cout << s.next_fire->job << " " << next_text(s.next_fire->at, now) << "\n";
  else
    std::cout << "-\n";
  if (!s.running_runs.empty()) {
    std::cout << "\n";
    Table t = run_table(true);
    add_run_rows(t, s.running_runs, now, true);
    std::cout << t.render(ctx.term);
  }
  return kOk;
}

int cmd_list(const Context& ctx) {
  auto r = call<proto::ListResult>(ctx, proto::method::list, nullptr);
  if (!r.value) return r.exit;
  if (ctx.json) {
    print_json(r.raw);
    return kOk;
  }
  if (r.value->jobs.empty()) {
    std::cout << "no jobs loaded\n";
    return kOk;
  }
  auto now = now_ms();
  Table t({{"NAME", true}, {"SCHEDULE", true}, {"STATE"}, {"LAST", true}, {"NEXT"}});
  for (const auto& j : r.value->jobs) {
    std::string last = j.last ? describe_last(*j.last, now) : "never run";
    Color last_color = j.last ? status_color(j.last->status) : Color::dim;
    t.add({j.name, j.schedule, j.state, last, next_text(j.next_fire, now)},
          {Color::bold, Color::none, status_color(j.state), last_color, Color::none});
  }
  std::cout << t.render(ctx.term);
  return kOk;
}

int cmd_show(const Context& ctx, const std::string& job) {
  auto r = call<proto::JobDetail>(ctx, proto::method::show, proto::JobParams{job});
  if (!r.value) return r.exit;
  if (ctx.json) {
    print_json(r.raw);
    return kOk;
  }
  const auto& d = *r.value;
  const auto& s = d.summary;
  auto now = now_ms();
  const date::time_zone* zone = &local_zone();
  if (!d.timezone.empty()) {
    try {
      zone = date::locate_zone(d.timezone);
    } catch (const std::exception&) {
    }
  }
  auto field = [&](const std::string& k, const std::string& v, Color c = Color::none) {
    if (v.empty()) return;
    std::cout << paint(ctx.term, Color::bold, k)
              << std::string(13 - std::min<size_t>(12, k.size()), ' ') << paint(ctx.term, c, v)
              << "\n";
  };
  field("job", s.name);
  field("description", d.description);
  field("schedule", s.schedule);
  field("state", s.state, status_color(s.state));
  field("command", d.shell.empty() ? shell_join(d.command) : "sh -c " + shell_join({d.shell}));
  field("working dir", d.working_dir);
  field("user", d.user);
  field("concurrency", d.concurrency);
  field("pool", d.pool);
  field("timeout",
        d.timeout_ms ? config::format_duration(std::chrono::milliseconds(d.timeout_ms)) : "none");
  if (d.retry.attempts > 1) {
    std::string on;
    for (const auto& o : d.retry.on) on += (on.empty() ? "" : ",") + o;
    char factor[32];
    std::snprintf(factor, sizeof(factor), "%g", d.retry.factor);
    field("retry", std::to_string(d.retry.attempts) + " attempts, backoff " +
                       config::format_duration(std::chrono::milliseconds(d.retry.backoff_ms)) +
                       " x" + factor + " up to " +
                       config::format_duration(std::chrono::milliseconds(d.retry.max_backoff_ms)) +
                       (on.empty() ? "" : ", on " + on));
  }
  if (!d.catch_up.empty() && d.catch_up != "none")
    field("catch-up",
          d.catch_up +
              (d.catch_up_max_age_ms
                   ? " (max age " +
                         config::format_duration(std::chrono::milliseconds(d.catch_up_max_age_ms)) +
                         ")"
                   : ""));
  if (!s.running_runs.empty()) {
    std::string ids;
    for (auto id : s.running_runs) ids += (ids.empty() ? "" : ", ") + std::to_string(id);
    field("active runs", ids, Color::cyan);
  }
  field("defined at", d.source, Color::dim);

  std::cout << "\n" << paint(ctx.term, Color::bold, "Next firings") << "\n";
  if (d.next_fires.empty()) std::cout << "  none\n";
  for (auto at : d.next_fires)
    std::cout << "  " << rfc3339(at, *zone) << "  "
              << paint(ctx.term, Color::dim, relative(at, now)) << "\n";
  std::cout << "\n" << paint(ctx.term, Color::bold, "Recent runs") << "\n";
  if (d.recent_runs.empty()) {
    std::cout << "  none\n";
  } else {
    Table t = run_table(false);
    add_run_rows(t, d.recent_runs, now, false);
    std::cout << t.render(ctx.term);
  }
  return kOk;
}

namespace {

/// Prints why a finished run did not succeed, with the tail of its last attempt.
void explain_failure(const Context& ctx, const proto::RunInfo& run) {
  std::string why = why_text(run);
  std::cerr << "kairosctl: run " << run.id << " of " << run.job << " " << run.status
            << (why.empty() ? "" : ": " + why) << "\n";
  auto logs = call<proto::LogsResult>(Context{ctx.socket, false, ctx.term}, proto::method::logs,
                                      proto::LogsParams{run.id});
  if (!logs.value || logs.value->attempts.empty()) return;
  const auto& last = logs.value->attempts.back();
  std::string tail = last_lines(last.output, 10);
  if (tail.empty()) return;
  std::cerr << "--- last lines of attempt " << last.attempt << " ---\n" << tail << "\n";
}

}  // namespace

int cmd_run(const Context& ctx, const std::string& job, bool wait, bool force) {
  proto::RunParams p{job, force, wait};
  if (!wait) {
    auto r = call<proto::RunInfo>(ctx, proto::method::run, p);
    if (!r.value) return r.exit;
    if (ctx.json) {
      print_json(r.raw);
      return kOk;
    }
    std::cout << "started run " << r.value->id << " of " << job << " (" << r.value->status << ")\n";
    return kOk;
  }
  // --wait: one long-lived request that the daemon answers when the run has ended.
  // Meanwhile show the elapsed time on stderr when it is a terminal.
  auto start = std::chrono::steady_clock::now();
  bool show_progress = ctx.term.stderr_tty && !ctx.json;
  // Ctrl-C stops following, not the run: say so, and leave the terminal line clean.
  static bool progress_line = false;
  progress_line = show_progress;
  auto on_interrupt = [](int) {
    static const char msg[] =
        "kairosctl: stopped waiting; the run continues (kairosctl cancel JOB stops it)\n";
    if (progress_line) (void)!::write(STDERR_FILENO, "\r\033[K", 4);
    (void)!::write(STDERR_FILENO, msg, sizeof(msg) - 1);
    ::_exit(130);
  };
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  auto tick = [&] {
    if (!show_progress) return;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    std::cerr << "\r\033[Krunning " << job << " \xe2\x80\xa6 " << short_duration(ms) << std::flush;
  };
  auto r = call<proto::RunInfo>(ctx, proto::method::run, p, std::chrono::milliseconds(0), tick);
  if (show_progress) std::cerr << "\r\033[K" << std::flush;
  if (!r.value) return r.exit;
  const auto& run = *r.value;
  bool ok = run.status == store::to_string(store::RunStatus::succeeded);
  if (ctx.json) {
    print_json(r.raw);
    return ok ? kOk : kFailed;
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  if (ok) {
    std::cout << "run " << run.id << " of " << job << " "
              << paint(ctx.term, Color::green, "succeeded") << " in "
              << (run.started_at && run.finished_at
                      ? short_duration(*run.finished_at - *run.started_at, true)
                      : short_duration(ms, true))
              << (run.attempts > 1 ? " after " + std::to_string(run.attempts) + " attempts" : "")
              << "\n";
    return kOk;
  }
  explain_failure(ctx, run);
  return kFailed;
}

int cmd_cancel(const Context& ctx, const std::string& target) {
  proto::CancelParams p;
  bool numeric = !target.empty() && target.find_first_not_of("0123456789") == std::string::npos;
  if (numeric) {
    try {
      p.run_id = std::stoll(target);
    } catch (const std::exception&) {
      return fail(ctx, kUsage, "run id out of range: " + target);
    }
  } else {
    p.job = target;
  }
  auto r = call<proto::CancelResult>(ctx, proto::method::cancel, p);
  if (!r.value) return r.exit;
  if (ctx.json) {
    print_json(r.raw);
    return kOk;
  }
  if (r.value->cancelled.empty()) {
    std::cout << (numeric ? "run " + target + " was not active" : "no active run of " + target)
              << "; nothing cancelled\n";
    return kOk;
  }
  std::string ids;
  for (auto id : r.value->cancelled) ids += (ids.empty() ? "" : ", ") + std::to_string(id);
  std::cout << "cancelled run" << (r.value->cancelled.size() > 1 ? "s " : " ") << ids << "\n";
  return kOk;
}

int cmd_pause(const Context& ctx, const std::string& job, bool pause) {
  auto r = call<proto::JobStateResult>(ctx, pause ? proto::method::pause : proto::method::resume,
                                       proto::JobParams{job});
  if (!r.value) return r.exit;
  if (ctx.json) {
    print_json(r.raw);
    return kOk;
  }
  if (r.value->changed)
    std::cout << (pause ? "paused " : "resumed ") << job << "\n";
  else
    std::cout << job << " was already " << (pause ? "paused" : "active") << "\n";
  return kOk;
}

int cmd_history(const Context& ctx, const HistoryArgs& a) {
  proto::HistoryParams p;
  if (!a.job.empty()) p.job = a.job;
  if (!a.status.empty()) p.status = a.status;
  p.limit = a.limit;
  if (!a.since.empty()) {
    std::string err;
    if (auto t = schedule::parse_rfc3339(a.since, &err)) {
      p.since = t->time_since_epoch().count();
    } else if (auto d = config::parse_duration(a.since, nullptr)) {
      p.since = now_ms() - d->count();
    } else {
      return fail(
          ctx, kUsage,
          "--since: expected an RFC 3339 time or a duration like 2h, got '" + a.since + "'");
    }
  }
  auto r = call<proto::HistoryResult>(ctx, proto::method::history, p);
  if (!r.value) return r.exit;
  if (ctx.json) {
    print_json(r.raw);
    return kOk;
  }
  if (r.value->runs.empty()) {
    std::cout << "no runs\n";
    return kOk;
  }
  Table t = run_table(true);
  add_run_rows(t, r.value->runs, now_ms(), true);
  std::cout << t.render(ctx.term);
  return kOk;
}

int cmd_logs(const Context& ctx, std::int64_t run_id) {
  auto r = call<proto::LogsResult>(ctx, proto::method::logs, proto::LogsParams{run_id});
  if (!r.value) return r.exit;
  if (ctx.json) {
    print_json(r.raw);
    return kOk;
  }
  const auto& run = r.value->run;
  if (r.value->attempts.empty()) {
    std::cout << "run " << run.id << " of " << run.job << " (" << run.status
              << ") has no attempts\n";
    return kOk;
  }
  bool first = true;
  for (const auto& a : r.value->attempts) {
    if (!first) std::cout << "\n";
    first = false;
    std::string head = "=== run " + std::to_string(run.id) + " (" + run.job + ") attempt " +
                       std::to_string(a.attempt) + "/" +
                       std::to_string(std::max(run.attempts, a.attempt)) + ": " + a.status;
    if (a.exit_code) head += ", exit " + std::to_string(*a.exit_code);
    if (a.signal) head += ", signal " + std::to_string(*a.signal);
    if (a.started_at) head += ", started " + local_datetime(*a.started_at);
    if (a.started_at && a.finished_at)
      head += ", took " + short_duration(*a.finished_at - *a.started_at, true);
    head += " ===";
    std::cout << paint(ctx.term, Color::bold, head) << "\n";
    if (!a.error.empty()) std::cout << paint(ctx.term, Color::red, "error: " + a.error) << "\n";
    if (a.output_truncated)
      std::cout << paint(ctx.term, Color::dim, "[earlier output truncated]") << "\n";
    if (a.output.empty()) {
      std::cout << paint(ctx.term, Color::dim, "(no output)") << "\n";
    } else {
      std::cout << a.output;
      if (a.output.back() != '\n') std::cout << "\n";
    }
  }
  return kOk;
}

int cmd_reload(const Context& ctx) {
  auto r = call<proto::ReloadResult>(ctx, proto::method::reload, nullptr);
  if (!r.value) return r.exit;
  const auto& res = *r.value;
  if (ctx.json) {
    print_json(r.raw);
    return res.ok ? kOk : kFailed;
  }
  if (!res.ok) {
    for (const auto& e : res.errors) std::cerr << e << "\n";
    std::cerr << "kairosctl: reload failed; kairosd keeps the previous configuration\n";
    return kFailed;
  }
  auto names = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& n : v) s += (s.empty() ? " (" : ", ") + n;
    return s.empty() ? s : s + ")";
  };
  std::cout << "reloaded: " << res.added.size() << " added" << names(res.added) << ", "
            << res.removed.size() << " removed" << names(res.removed) << ", " << res.changed.size()
            << " changed" << names(res.changed) << ", " << res.unchanged.size() << " unchanged\n";
  return kOk;
}

int cmd_next_job(const Context& ctx, const std::string& job, int count) {
  auto r = call<proto::NextResult>(ctx, proto::method::next, proto::NextParams{job, count});
  if (!r.value) return r.exit;
  const date::time_zone* zone = &local_zone();
  if (!r.value->timezone.empty()) {
    try {
      zone = date::locate_zone(r.value->timezone);
    } catch (const std::exception&) {
    }
  }
  std::vector<std::string> lines;
  for (auto at : r.value->fires) lines.push_back(rfc3339(at, *zone));
  if (ctx.json) {
    print_json(json{{"job", r.value->job.empty() ? job : r.value->job},
                    {"timezone", zone->name()},
                    {"fires", lines}});
    return kOk;
  }
  for (const auto& l : lines) std::cout << l << "\n";
  return kOk;
}

}  // namespace kairos::cli

// kairosctl: the control CLI of kairosd. Parses the command line (CLI11) and hands
// over to one function per command (commands.cc, offline.cc).
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "store/words.h"
#include "cli/commands.h"

namespace {

using namespace kairos::cli;

constexpr const char* kDefaultSocket = "/run/kairos/kairosd.sock";
constexpr const char* kDefaultConfig = "/etc/kairos/kairos.yaml";

std::string example(const std::string& text) {
  return "\nExample:\n  " + text + "\n";
}

}  // namespace

/// Every run status word, for `history --status`.
static std::vector<std::string> run_status_words() {
  std::vector<std::string> out;
  for (int i = 0; i < kairos::store::kRunStatusCount; ++i)
    out.emplace_back(kairos::store::to_string(static_cast<kairos::store::RunStatus>(i)));
  return out;
}

int main(int argc, char** argv) {
  CLI::App app{"kairosctl - control and inspect the kairos job scheduler (kairosd)", "kairosctl"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the command: `kairosctl list --json`
  app.footer(
      "\nExit codes: 0 ok, 1 the operation or the job failed, 2 usage error, 3 kairosd "
      "unreachable.\nEnvironment: KAIROS_SOCKET (socket path), NO_COLOR (no colour), TZ (display "
      "zone).\nRun `kairosctl COMMAND --help` for a command's options and an example.");

  Context ctx;
  ctx.socket = kDefaultSocket;
  app.add_option("--socket", ctx.socket, "Path of kairosd's control socket")
      ->envname("KAIROS_SOCKET")
      ->capture_default_str();
  app.add_flag("--json", ctx.json, "Print one JSON document (stable field names) instead of text");

  auto* status = app.add_subcommand(
      "status", "Daemon version, uptime, config, counts, running runs, next firing");
  status->footer(example("kairosctl status"));

  auto* list =
      app.add_subcommand("list", "One line per job: schedule, state, last result, next firing");
  list->footer(
      example("kairosctl list --json | jq -r '.jobs[] | select(.state == \"paused\") | .name'"));

  std::string job;
  auto* show =
      app.add_subcommand("show", "A job as loaded, its next 5 firings and its last 10 runs");
  show->add_option("JOB", job, "Job name")->required();
  show->footer(example("kairosctl show nightly-backup"));

  bool wait = false, force = false;
  auto* run = app.add_subcommand("run", "Start a run of JOB now (obeys its overlap policy)");
  run->add_option("JOB", job, "Job name")->required();
  run->add_flag("--wait,-w", wait, "Follow the run; exit 0 if it succeeded, 1 otherwise");
  run->add_flag("--force,-f", force, "Start even if the overlap policy would refuse");
  run->footer(example("kairosctl run --wait nightly-backup && echo backup ok"));

  std::string target;
  auto* cancel =
      app.add_subcommand("cancel", "Cancel one run (by id), or every active run of a job");
  cancel->add_option("RUN_ID|JOB", target, "A run id (digits) or a job name")->required();
  cancel->footer(
      example("kairosctl cancel 4711        # one run\n  kairosctl cancel nightly-backup  # all "
              "its active runs"));

  auto* pause = app.add_subcommand("pause", "Stop firing JOB's schedule (running runs continue)");
  pause->add_option("JOB", job, "Job name")->required();
  pause->footer(example("kairosctl pause heartbeat"));
  auto* resume = app.add_subcommand("resume", "Resume firing a paused job");
  resume->add_option("JOB", job, "Job name")->required();
  resume->footer(example("kairosctl resume heartbeat"));

  HistoryArgs hist;
  auto* history = app.add_subcommand("history", "Past and current runs, newest first");
  history->add_option("JOB", hist.job, "Only this job");
  history->add_option("--status,-s", hist.status, "Only runs with this status")
      ->check(CLI::IsMember(run_status_words()));
  history->add_option(
      "--since", hist.since,
      "Only runs since T: RFC 3339 (2026-11-24T08:00:00+01:00) or a duration ago (2h, 7d)");
  history->add_option("--limit,-n", hist.limit, "At most N runs")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  history->footer(example("kairosctl history nightly-backup --status failed --since 7d"));

  std::int64_t run_id = 0;
  auto* logs = app.add_subcommand("logs", "The captured output of each attempt of a run");
  logs->add_option("RUN_ID", run_id, "Run id (from list, history or show)")->required();
  logs->footer(example("kairosctl logs 4711"));

  auto* reload =
      app.add_subcommand("reload", "Re-read the configuration; on error keep the old one");
  reload->footer(example("kairosctl reload"));

  std::string file = kDefaultConfig;
  auto* validate = app.add_subcommand(
      "validate", "Offline: check a configuration file, print file:line:col errors");
  validate->add_option("FILE", file, "Configuration file, or - for stdin")->capture_default_str();
  validate->footer(example("kairosctl validate /etc/kairos/kairos.yaml"));

  std::string expr, tz, after, next_job;
  int count = 5;
  auto* next = app.add_subcommand(
      "next", "Next firings of a cron expression (offline) or of a loaded job (--job)");
  auto* expr_opt = next->add_option("EXPR", expr, "Cron expression (quote it)");
  auto* job_opt = next->add_option("--job,-j", next_job, "Ask kairosd for this job's next firings");
  auto* tz_opt = next->add_option("--tz", tz, "IANA time zone for EXPR (default: local zone)");
  auto* after_opt =
      next->add_option("--after", after, "Start after this RFC 3339 instant (default: now)");
  next->add_option("--count,-n", count, "How many firings")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  job_opt->excludes(expr_opt)->excludes(tz_opt)->excludes(after_opt);
  next->footer(example(
      "kairosctl next '30 2 * * *' --tz Europe/Berlin --after 2026-03-28T12:00:00Z --count 2\n"
      "  2026-03-29T03:00:00+02:00\n  2026-03-30T02:30:00+02:00\n"
      "  kairosctl next --job nightly-backup"));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kOk : kUsage;
  }
  ctx.term = Terminal::detect();
  if (ctx.json) ctx.term.color = false;

  try {
    if (*status) return cmd_status(ctx);
    if (*list) return cmd_list(ctx);
    if (*show) return cmd_show(ctx, job);
    if (*run) return cmd_run(ctx, job, wait, force);
    if (*cancel) return cmd_cancel(ctx, target);
    if (*pause) return cmd_pause(ctx, job, true);
    if (*resume) return cmd_pause(ctx, job, false);
    if (*history) return cmd_history(ctx, hist);
    if (*logs) return cmd_logs(ctx, run_id);
    if (*reload) return cmd_reload(ctx);
    if (*validate) return cmd_validate(ctx, file);
    if (*next) {
      if (!next_job.empty()) return cmd_next_job(ctx, next_job, count);
      if (expr.empty()) {
        std::cerr << "kairosctl next: give a cron expression or --job NAME\n" << next->help();
        return kUsage;
      }
      return cmd_next_expr(ctx, expr, tz, after, count);
    }
  } catch (const std::exception& e) {
    return fail(ctx, kFailed, std::string("internal error: ") + e.what());
  }
  return kUsage;
}

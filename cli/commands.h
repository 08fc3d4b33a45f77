// kairosctl commands. Each returns the process exit code (see ExitCode).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "cli/format.h"

namespace kairos::cli {

enum ExitCode : int { kOk = 0, kFailed = 1, kUsage = 2, kUnreachable = 3 };

/// What every command needs: where the daemon is and how to print.
struct Context {
  std::string socket;
  bool json = false;
  Terminal term;
};

int cmd_status(const Context& ctx);
int cmd_list(const Context& ctx);
int cmd_show(const Context& ctx, const std::string& job);
int cmd_run(const Context& ctx, const std::string& job, bool wait, bool force);
int cmd_cancel(const Context& ctx, const std::string& target);
int cmd_pause(const Context& ctx, const std::string& job, bool pause);
struct HistoryArgs {
  std::string job;
  std::string status;
  std::string since;  // RFC 3339, or a duration meaning "that long ago"
  int limit = 20;
};
int cmd_history(const Context& ctx, const HistoryArgs& args);
int cmd_logs(const Context& ctx, std::int64_t run_id);
int cmd_reload(const Context& ctx);
/// Asks the daemon for a job's next firings.
int cmd_next_job(const Context& ctx, const std::string& job, int count);

// Offline.
int cmd_validate(const Context& ctx, const std::string& file);
int cmd_next_expr(const Context& ctx, const std::string& expr, const std::string& tz,
                  const std::string& after, int count);

/// Prints "kairosctl: MESSAGE" to stderr (and, with --json, {"error": ...} to stdout).
int fail(const Context& ctx, int code, const std::string& message,
         const std::string& kind = "error");

}  // namespace kairos::cli

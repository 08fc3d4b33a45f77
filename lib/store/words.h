// The words of the history schema: a run's (or attempt's) status and its trigger. They are
// stored as text (users query them with sqlite3) and travel as text over the control
// protocol; everywhere else they are these enums. This file holds the one string table.
#pragma once

#include <optional>
#include <string_view>

namespace kairos::store {

/// What became of a run or an attempt.
enum class RunStatus {
  queued,       // written, not started yet (overlap `queue`, a concurrency slot, a firing ahead)
  running,      // an attempt's process is alive, or the run waits between attempts
  succeeded,
  failed,
  timed_out,
  cancelled,
  skipped,      // refused by the overlap policy
  missed,       // the daemon was down (or the firing too old for catch-up)
  interrupted,  // the daemon died while it was active
};
inline constexpr int kRunStatusCount = 9;

/// Why a run exists.
enum class Trigger { schedule, manual, catch_up };
inline constexpr int kTriggerCount = 3;

std::string_view to_string(RunStatus s);
std::string_view to_string(Trigger t);
/// The word as stored; nullopt for anything else.
std::optional<RunStatus> parse_run_status(std::string_view word);
std::optional<Trigger> parse_trigger(std::string_view word);

/// A run in this status has ended and will not change again.
constexpr bool is_final(RunStatus s) { return s != RunStatus::queued && s != RunStatus::running; }
/// The run ended after starting (a result worth reporting as "last result").
constexpr bool is_result(RunStatus s) {
  return is_final(s) && s != RunStatus::skipped && s != RunStatus::missed;
}

}  // namespace kairos::store

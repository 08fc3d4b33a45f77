#include "config/describe.h"

#include "config/loader.h"
#include "schedule/rfc3339.h"

namespace kairos::config {

std::string_view to_string(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::after:
      return "after";
    case ScheduleKind::at:
      return "at";
    case ScheduleKind::every:
      return "every";
    case ScheduleKind::cron:
      return "cron";
  }
  return "?";
}

std::string_view to_string(Overlap overlap) {
  switch (overlap) {
    case Overlap::allow:
      return "allow";
    case Overlap::forbid:
      return "forbid";
    case Overlap::replace:
      return "replace";
    case Overlap::queue:
      return "queue";
  }
  return "?";
}

std::string_view to_string(CatchUpPolicy policy) {
  switch (policy) {
    case CatchUpPolicy::none:
      return "none";
    case CatchUpPolicy::last:
      return "last";
    case CatchUpPolicy::all:
      return "all";
  }
  return "?";
}

std::string_view to_string(OnRemove on_remove) {
  switch (on_remove) {
    case OnRemove::finish:
      return "finish";
    case OnRemove::cancel:
      return "cancel";
  }
  return "?";
}

std::string describe(const Schedule& s) {
  switch (s.kind) {
    case ScheduleKind::after:
      return "after " + format_duration(s.after);
    case ScheduleKind::at:
      return "at " + schedule::format_rfc3339_utc(s.at);
    case ScheduleKind::every:
      return "every " + format_duration(s.every) +
             (s.jitter.count() > 0 ? " (jitter " + format_duration(s.jitter) + ")" : "");
    case ScheduleKind::cron:
      return "cron " + s.cron + " (" + s.timezone + ")";
  }
  return "?";
}

}  // namespace kairos::config

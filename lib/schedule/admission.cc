#include "schedule/admission.h"

#include <algorithm>

namespace kairos::schedule {
namespace {

Admission skip(std::int64_t blocking, std::string reason) {
  Admission a;
  a.action = Admit::skip;
  a.blocking_run = blocking;
  a.reason = std::move(reason);
  return a;
}

}  // namespace

Admission admit(config::Overlap policy, int max_instances, std::span<const ActiveRun> active,
                bool force) {
  if (force || active.empty()) return {};
  const std::int64_t newest = active.back().id;
  switch (policy) {
    case config::Overlap::allow:
      if (static_cast<std::int64_t>(active.size()) < std::max(1, max_instances)) return {};
      return skip(newest, "max_instances (" + std::to_string(max_instances) +
                              ") runs already active, newest is run " + std::to_string(newest));
    case config::Overlap::forbid:
      return skip(newest, "run " + std::to_string(newest) +
                              " is still active and the overlap policy is forbid");
    case config::Overlap::replace: {
      Admission a;
      a.action = Admit::replace;
      for (const ActiveRun& r : active) a.to_cancel.push_back(r.id);
      return a;
    }
    case config::Overlap::queue: {
      // At most one run waits: later firings coalesce into it.
      for (const ActiveRun& r : active) {
        if (r.waiting_behind)
          return skip(r.id, "coalesced into queued run " + std::to_string(r.id));
      }
      Admission a;
      a.action = Admit::queue;
      a.blocking_run = newest;
      return a;
    }
  }
  return {};
}

}  // namespace kairos::schedule

#include "schedule/catch_up.h"

#include <algorithm>
#include <chrono>

#include "schedule/cron_range.h"

namespace kairos::schedule {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::sys_seconds;

/// a / b rounded towards minus infinity; b > 0.
Millis floor_div(Millis a, Millis b) {
  const Millis q = a / b;
  return q * b > a ? q - 1 : q;
}

sys_seconds to_seconds(Millis t) {
  return std::chrono::floor<seconds>(std::chrono::sys_time<milliseconds>{milliseconds{t}});
}

/// The firings of one schedule in a window, counted and searched from the newest end without
/// visiting each one.
class Firings {
 public:
  explicit Firings(const Planner& p) : p_(p), s_(p.schedule()) {}

  /// How many firings lie in (from, to].
  std::int64_t count(Millis from, Millis to) const {
    if (to <= from) return 0;
    switch (s_.kind) {
      case config::ScheduleKind::every: {
        const Millis period = s_.every.count();
        if (period <= 0) return 0;
        return std::max<Millis>(0, last_k(to, period) - first_k(from, period) + 1);
      }
      case config::ScheduleKind::cron:
        // Cron firings are whole seconds: f > from and f <= to hold for their floors too.
        return count_fires(*p_.cron(), to_seconds(from), to_seconds(to), *p_.zone());
      case config::ScheduleKind::after:
      case config::ScheduleKind::at:
        return latest(from, to) ? 1 : 0;
    }
    return 0;
  }

  /// The latest firing in (from, to], or nullopt.
  std::optional<Millis> latest(Millis from, Millis to) const {
    if (to <= from) return std::nullopt;
    switch (s_.kind) {
      case config::ScheduleKind::every: {
        const Millis period = s_.every.count();
        if (period <= 0) return std::nullopt;
        const Millis k = last_k(to, period);
        if (k < first_k(from, period)) return std::nullopt;
        return p_.anchor() + k * period;
      }
      case config::ScheduleKind::cron: {
        auto f = last_fire(*p_.cron(), to_seconds(from), to_seconds(to), *p_.zone());
        if (!f) return std::nullopt;
        return std::chrono::duration_cast<milliseconds>(f->time_since_epoch()).count();
      }
      case config::ScheduleKind::after:
      case config::ScheduleKind::at: {
        // One firing at most, wherever `from` is.
        auto f = p_.next_after(from);
        return f && *f <= to ? f : std::nullopt;
      }
    }
    return std::nullopt;
  }

 private:
  // `every` fires at anchor + k*period for k >= 1.
  Millis first_k(Millis from, Millis period) const {
    return std::max<Millis>(1, floor_div(from - p_.anchor(), period) + 1);
  }
  Millis last_k(Millis to, Millis period) const { return floor_div(to - p_.anchor(), period); }

  const Planner& p_;
  const config::Schedule& s_;
};

}  // namespace

CatchUpPlan plan_catch_up(const Planner& planner, const config::CatchUp& policy, Millis from,
                          Millis to) {
  CatchUpPlan plan;
  plan.cursor = to;
  const Firings firings(planner);
  const std::int64_t total = firings.count(from, to);
  if (total == 0) return plan;
  const Millis last = firings.latest(from, to).value_or(to);
  plan.cursor = last;
  // Firings in (young_after, to] are young enough to run.
  const Millis max_age = policy.max_age.count();
  const Millis young_after = max_age > 0 && to - from > max_age ? to - max_age - 1 : from;
  switch (policy.policy) {
    case config::CatchUpPolicy::none:
      break;
    case config::CatchUpPolicy::last:
      if (last > young_after) plan.run.push_back(last);
      break;
    case config::CatchUpPolicy::all:
      // From the newest end, so that only the firings kept are ever looked at.
      for (Millis t = to; static_cast<std::int64_t>(plan.run.size()) < kMaxCatchUpRuns;) {
        auto f = firings.latest(young_after, t);
        if (!f) break;
        plan.run.push_back(*f);
        t = *f - 1;
      }
      std::reverse(plan.run.begin(), plan.run.end());
      break;
  }
  const std::int64_t missed = total - static_cast<std::int64_t>(plan.run.size());
  if (missed > 0) {
    // The runs are the newest firings, so the missed ones are all older than the first run.
    Missed m;
    m.first = planner.next_after(from).value_or(last);
    m.last = plan.run.empty() ? last : firings.latest(from, plan.run.front() - 1).value_or(m.first);
    m.count = missed;
    plan.missed = m;
  }
  return plan;
}

}  // namespace kairos::schedule

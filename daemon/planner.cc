#include "daemon/planner.h"

#include <stdexcept>

#include "config/describe.h"

namespace kairos::daemon {

using namespace std::chrono;

Planner::Planner(std::shared_ptr<const config::Schedule> s, Millis loaded_at, Millis anchor)
    : s_(std::move(s)), loaded_at_(loaded_at), anchor_(anchor) {
  if (s_->kind == config::ScheduleKind::cron) {
    auto parsed = schedule::parse_cron(s_->cron);
    if (auto* err = std::get_if<schedule::CronError>(&parsed))
      throw std::runtime_error("cron: " + err->message);
    cron_ = std::get<schedule::CronSpec>(std::move(parsed));
    tz_ = date::locate_zone(s_->timezone.empty() ? "UTC" : s_->timezone);
  }
}

std::optional<Millis> Planner::next_after(Millis t) const {
  switch (s_->kind) {
    case config::ScheduleKind::after: {
      Millis at = loaded_at_ + s_->after.count();
      return at > t ? std::optional<Millis>(at) : std::nullopt;
    }
    case config::ScheduleKind::at: {
      Millis at = s_->at.time_since_epoch().count();
      return at > t ? std::optional<Millis>(at) : std::nullopt;
    }
    case config::ScheduleKind::every: {
      Millis p = s_->every.count();
      if (p <= 0) return std::nullopt;
      if (t < anchor_ + p) return anchor_ + p;
      // Fixed rate: the k-th firing is anchor + k*p whatever happened before (no drift).
      Millis k = (t - anchor_) / p + 1;
      return anchor_ + k * p;
    }
    case config::ScheduleKind::cron: {
      auto after = floor<seconds>(sys_time<milliseconds>(milliseconds(t)));
      auto next = schedule::next_fire(*cron_, after, *tz_);
      if (!next) return std::nullopt;
      return duration_cast<milliseconds>(next->time_since_epoch()).count();
    }
  }
  return std::nullopt;
}

std::int64_t Planner::count_between(Millis from, Millis to, std::int64_t cap, Millis* first,
                                    Millis* last) const {
  if (to <= from) return 0;
  if (s_->kind == config::ScheduleKind::every && s_->every.count() > 0) {
    // Arithmetic, so a year-long outage of a 1 s job costs nothing.
    auto f = next_after(from);
    if (!f || *f > to) return 0;
    Millis p = s_->every.count();
    std::int64_t n = (to - *f) / p + 1;
    if (first) *first = *f;
    if (last) *last = *f + (n - 1) * p;
    return n;
  }
  std::int64_t n = 0;
  Millis t = from;
  while (n < cap) {
    auto next = next_after(t);
    if (!next || *next > to) break;
    if (n == 0 && first) *first = *next;
    if (last) *last = *next;
    t = *next;
    ++n;
  }
  return n;
}

std::string format_instant(Millis t, const date::time_zone* tz) {
  auto s = floor<seconds>(sys_time<milliseconds>(milliseconds(t)));
  // Every attempt's KAIROS_SCHEDULED_AT comes here: look "UTC" up once, not per run.
  static const date::time_zone* const utc = date::locate_zone("UTC");
  return schedule::format_rfc3339(s, tz ? *tz : *utc);
}

std::string Planner::describe() const { return config::describe(*s_); }

}  // namespace kairos::daemon

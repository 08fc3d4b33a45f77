#include "schedule/planner.h"

#include <stdexcept>

#include "config/describe.h"

namespace kairos::schedule {

using namespace std::chrono;

Planner::Planner(std::shared_ptr<const config::Schedule> s, Millis loaded_at, Millis anchor)
    : s_(std::move(s)), loaded_at_(loaded_at), anchor_(anchor) {
  if (s_->kind == config::ScheduleKind::cron) {
    auto parsed = parse_cron(s_->cron);
    if (auto* err = std::get_if<CronError>(&parsed))
      throw std::runtime_error("cron: " + err->message);
    cron_ = std::get<CronSpec>(std::move(parsed));
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
      auto next = next_fire(*cron_, after, *tz_);
      if (!next) return std::nullopt;
      return duration_cast<milliseconds>(next->time_since_epoch()).count();
    }
  }
  return std::nullopt;
}

std::string format_instant(Millis t, const date::time_zone* tz) {
  auto s = floor<seconds>(sys_time<milliseconds>(milliseconds(t)));
  // Every attempt's KAIROS_SCHEDULED_AT comes here: look "UTC" up once, not per run.
  static const date::time_zone* const utc = date::locate_zone("UTC");
  return format_rfc3339(s, tz ? *tz : *utc);
}

std::string Planner::describe() const {
  return config::describe(*s_);
}

}  // namespace kairos::schedule

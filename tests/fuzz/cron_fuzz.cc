// Fuzzes the cron parser and, for expressions it accepts, the evaluator: next_fire must be
// strictly increasing and never crash, in a zone with DST, one with a 30-minute shift and UTC.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "schedule/cron.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace kairos::schedule;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = parse_cron(text);
  if (auto* error = std::get_if<CronError>(&parsed)) {
    if (error->message.empty() || error->column < 1 || error->column > static_cast<int>(size) + 1) {
      std::abort();
    }
    return 0;
  }
  const CronSpec& spec = std::get<CronSpec>(parsed);
  // The canonical form must mean exactly the same schedule.
  auto again = parse_cron(to_string(spec));
  const CronSpec* re = std::get_if<CronSpec>(&again);
  if (re == nullptr || re->seconds() != spec.seconds() || re->minutes() != spec.minutes() ||
      re->hours() != spec.hours() || re->days_of_month() != spec.days_of_month() ||
      re->months() != spec.months() || re->days_of_week() != spec.days_of_week() ||
      re->dom_last_offsets() != spec.dom_last_offsets() ||
      re->dom_last_weekday() != spec.dom_last_weekday() ||
      re->dom_nearest_weekday() != spec.dom_nearest_weekday() ||
      re->dow_last() != spec.dow_last() || re->dow_nth() != spec.dow_nth() ||
      re->dom_star() != spec.dom_star() || re->dow_star() != spec.dow_star() ||
      re->fixed_time() != spec.fixed_time()) {
    std::abort();
  }
  static const date::time_zone* zones[] = {date::locate_zone("UTC"),
                                           date::locate_zone("Europe/Berlin"),
                                           date::locate_zone("Australia/Lord_Howe")};
  std::chrono::sys_seconds t{std::chrono::seconds{1'774'000'000 + static_cast<long>(size) * 3607}};
  for (const date::time_zone* tz : zones) {
    auto at = t;
    for (int i = 0; i < 4; ++i) {
      auto next = next_fire(spec, at, *tz);
      if (!next) break;
      if (*next <= at) std::abort();
      at = *next;
    }
  }
  return 0;
}

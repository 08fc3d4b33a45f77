// Until schedule/cron.h lands this is a shallow check (field count, character set); it is
// replaced by a call to schedule::parse_cron so that the loader and the scheduler can never
// disagree about what a valid expression is.
#include "config/cron_check.h"

#include <array>

namespace kairos::config {

std::optional<CronProblem> check_cron(std::string_view expr) {
  static constexpr std::array<std::string_view, 7> kMacros{
      "@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"};
  if (expr.starts_with('@')) {
    for (auto macro : kMacros) {
      if (expr == macro) return std::nullopt;
    }
    return CronProblem{"unknown macro '" + std::string(expr) + "'", 1};
  }
  int fields = 0;
  bool in_field = false;
  for (std::size_t i = 0; i < expr.size(); ++i) {
    const char c = expr[i];
    if (c == ' ' || c == '\t') {
      in_field = false;
      continue;
    }
    const bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    std::string_view("*?,/-#").find(c) != std::string_view::npos;
    if (!ok) {
      return CronProblem{"unexpected character '" + std::string(1, c) + "'",
                         static_cast<int>(i) + 1};
    }
    if (!in_field) ++fields;
    in_field = true;
  }
  if (fields != 5 && fields != 6) {
    return CronProblem{"expected 5 or 6 fields, got " + std::to_string(fields), 1};
  }
  return std::nullopt;
}

}  // namespace kairos::config

// Validation of `schedule: {cron: ...}` expressions, reported at a column inside the text.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kairos::config {

struct CronProblem {
  std::string message;
  int column = 1;  // 1-based, inside the expression
};

/// nullopt when the expression is valid cron (docs/cron.md).
std::optional<CronProblem> check_cron(std::string_view expression);

}  // namespace kairos::config

// The loader asks the scheduler's own parser, so the two can never disagree about what a
// valid expression is.
#include "config/cron_check.h"

#include <variant>

#include "schedule/cron.h"

namespace kairos::config {

std::optional<CronProblem> check_cron(std::string_view expression) {
  auto parsed = schedule::parse_cron(expression);
  const auto* error = std::get_if<schedule::CronError>(&parsed);
  if (!error) return std::nullopt;
  // The diagnostic already points at the column, so drop the parser's " at column N".
  std::string message = error->message;
  const std::string suffix = " at column " + std::to_string(error->column);
  if (message.ends_with(suffix)) message.resize(message.size() - suffix.size());
  return CronProblem{std::move(message), error->column < 1 ? 1 : error->column};
}

}  // namespace kairos::config

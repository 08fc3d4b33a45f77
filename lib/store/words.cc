#include "store/words.h"

#include <array>

namespace kairos::store {

namespace {
constexpr std::array<std::string_view, kRunStatusCount> kStatus = {
    "queued", "running", "succeeded", "failed", "timed_out",
    "cancelled", "skipped", "missed", "interrupted"};
constexpr std::array<std::string_view, kTriggerCount> kTrigger = {"schedule", "manual",
                                                                  "catch_up"};

template <class E, std::size_t N>
std::optional<E> parse(const std::array<std::string_view, N>& table, std::string_view word) {
  for (std::size_t i = 0; i < N; ++i)
    if (table[i] == word) return static_cast<E>(i);
  return std::nullopt;
}
}  // namespace

std::string_view to_string(RunStatus s) { return kStatus.at(static_cast<std::size_t>(s)); }
std::string_view to_string(Trigger t) { return kTrigger.at(static_cast<std::size_t>(t)); }
std::optional<RunStatus> parse_run_status(std::string_view w) { return parse<RunStatus>(kStatus, w); }
std::optional<Trigger> parse_trigger(std::string_view w) { return parse<Trigger>(kTrigger, w); }

}  // namespace kairos::store

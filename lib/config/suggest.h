// "did you mean 'timeout'?" hints for misspelled keys and enum values.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace kairos::config {

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions), so a
/// swapped pair of letters ("shcedule") costs 1, as people type it.
int edit_distance(std::string_view a, std::string_view b);
/// " (did you mean 'X'?)" for the closest candidate within a small distance, else "".
std::string did_you_mean(std::string_view word, std::span<const std::string_view> candidates);

}  // namespace kairos::config

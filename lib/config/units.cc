// Durations ("1h30m") and sizes ("64KiB"): the two unit grammars of the config format.
#include <array>
#include <charconv>
#include <cstdint>
#include <limits>
#include <string_view>

#include "config/loader.h"

namespace kairos::config {
namespace {

struct Unit {
  std::string_view name;
  std::int64_t factor;
};

// Longest names first so that "ms" is not read as "m" followed by garbage.
constexpr std::array<Unit, 5> kDurationUnits{{
    {"ms", 1},
    {"d", 86'400'000},
    {"h", 3'600'000},
    {"m", 60'000},
    {"s", 1'000},
}};

constexpr std::array<Unit, 10> kSizeUnits{{
    {"KiB", std::int64_t{1} << 10},
    {"MiB", std::int64_t{1} << 20},
    {"GiB", std::int64_t{1} << 30},
    {"TiB", std::int64_t{1} << 40},
    {"KB", 1'000},
    {"MB", 1'000'000},
    {"GB", 1'000'000'000},
    {"TB", 1'000'000'000'000},
    {"B", 1},
    {"", 1},
}};

void set(std::string* error, std::string message) {
  if (error) *error = std::move(message);
}

// Reads the leading decimal digits of `text`; nullopt when there are none or they overflow.
std::optional<std::uint64_t> take_number(std::string_view& text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end == text.data()) return std::nullopt;
  text.remove_prefix(static_cast<std::size_t>(end - text.data()));
  return value;
}

}  // namespace

std::optional<Duration> parse_duration(const std::string& text, std::string* error) {
  const std::string hint = "invalid duration '" + text +
                           "': expected numbers with units ms, s, m, h, d (e.g. 30s, 1h30m)";
  if (text == "0") return Duration{0};
  std::string_view rest = text;
  if (rest.empty()) return set(error, hint), std::nullopt;
  std::int64_t total = 0;
  std::int64_t previous_factor = std::numeric_limits<std::int64_t>::max();
  while (!rest.empty()) {
    auto number = take_number(rest);
    if (!number) return set(error, hint), std::nullopt;
    const Unit* unit = nullptr;
    for (const Unit& u : kDurationUnits) {
      if (rest.starts_with(u.name)) {
        unit = &u;
        break;
      }
    }
    if (!unit) {
      set(error, rest.empty() ? "invalid duration '" + text + "': missing unit (e.g. " + text + "s)"
                              : hint);
      return std::nullopt;
    }
    // Units must go from largest to smallest, each at most once: "1h30m", not "30m1h".
    if (unit->factor >= previous_factor) {
      set(error, "invalid duration '" + text + "': units must be in order d, h, m, s, ms");
      return std::nullopt;
    }
    previous_factor = unit->factor;
    rest.remove_prefix(unit->name.size());
    const auto limit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (*number >
        (limit - static_cast<std::uint64_t>(total)) / static_cast<std::uint64_t>(unit->factor)) {
      set(error, "invalid duration '" + text + "': too large");
      return std::nullopt;
    }
    total += static_cast<std::int64_t>(*number) * unit->factor;
  }
  return Duration{total};
}

std::string format_duration(Duration d) {
  if (d.count() == 0) return "0s";
  if (d.count() < 0) return "-" + format_duration(-d);
  std::string out;
  std::int64_t rest = d.count();
  // Largest unit first; kDurationUnits lists "ms" first only for parsing.
  for (std::size_t i = 1; i <= kDurationUnits.size(); ++i) {
    const Unit& unit = kDurationUnits[i % kDurationUnits.size()];
    if (rest >= unit.factor) {
      out += std::to_string(rest / unit.factor);
      out += unit.name;
      rest %= unit.factor;
    }
  }
  return out;
}

std::optional<std::uint64_t> parse_size(const std::string& text, std::string* error) {
  const std::string hint = "invalid size '" + text +
                           "': expected a number of bytes, optionally with a unit "
                           "(KiB, MiB, GiB, KB, MB, GB; e.g. 64KiB)";
  std::string_view rest = text;
  auto number = take_number(rest);
  if (!number) return set(error, hint), std::nullopt;
  for (const Unit& unit : kSizeUnits) {
    if (rest != unit.name) continue;
    const auto factor = static_cast<std::uint64_t>(unit.factor);
    if (*number > std::numeric_limits<std::uint64_t>::max() / factor) {
      set(error, "invalid size '" + text + "': too large");
      return std::nullopt;
    }
    return *number * factor;
  }
  set(error, hint);
  return std::nullopt;
}

std::string format_size(std::uint64_t bytes) {
  // The largest binary unit that divides exactly, so parse_size(format_size(n)) == n.
  for (int i = 3; i >= 0; --i) {
    const auto factor = static_cast<std::uint64_t>(kSizeUnits[static_cast<std::size_t>(i)].factor);
    if (bytes != 0 && bytes % factor == 0) {
      return std::to_string(bytes / factor) +
             std::string(kSizeUnits[static_cast<std::size_t>(i)].name);
    }
  }
  return std::to_string(bytes);
}

}  // namespace kairos::config

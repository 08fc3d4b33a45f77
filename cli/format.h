// Human output for kairosctl: relative times, durations, aligned tables sized to the
// terminal, and colour only when stdout is a TTY and NO_COLOR is unset.
#pragma once

#include <date/tz.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kairos::cli {

/// Decided once from the environment; tests force values through the environment too
/// (NO_COLOR, COLUMNS).
struct Terminal {
  bool color = false;
  /// Width to fit tables in; 0 = unlimited (stdout is not a terminal).
  int width = 0;
  bool stderr_tty = false;
  static Terminal detect();
};

enum class Color { none, bold, dim, red, green, yellow, blue, cyan };
std::string paint(const Terminal& term, Color c, const std::string& text);
/// The colour of a run status / job state word.
Color status_color(const std::string& status);

/// The display zone: $TZ if set and known, else the system zone, else UTC.
const date::time_zone& local_zone();

std::int64_t now_ms();
/// "3m", "12s", "1h30m", "2d4h" (two largest units), "0s" for < 1 s; "250ms" below 1 s
/// when `millis` is set.
std::string short_duration(std::int64_t ms, bool millis = false);
/// "12s ago" / "in 4m" relative to now_ms.
std::string relative(std::int64_t at_ms, std::int64_t now);
/// Local wall time: "14:05:00" today, "Tue 14:05" within a week, else "2026-11-30 14:05".
std::string local_time(std::int64_t at_ms, std::int64_t now);
/// "2026-11-24 14:05:00" in the local zone.
std::string local_datetime(std::int64_t at_ms);
/// RFC 3339 with offset in `tz`.
std::string rfc3339(std::int64_t at_ms, const date::time_zone& tz);

/// Display width of UTF-8 text (code points; good enough for names and commands).
std::size_t display_width(const std::string& s);
/// Cuts to at most `width` columns, ending in "…" when cut.
std::string truncate(const std::string& s, std::size_t width);

/// An aligned table. Columns marked flexible give up width (their cells are truncated)
/// when the table is wider than the terminal.
class Table {
 public:
  struct Column {
    std::string header;
    bool flexible = false;
    bool right = false;  // right-align (numbers)
  };
  explicit Table(std::vector<Column> columns) : cols_(std::move(columns)) {}
  /// Cells with an optional colour each (applied after padding).
  void add(std::vector<std::string> cells, std::vector<Color> colors = {});
  std::string render(const Terminal& term) const;
  bool empty() const { return rows_.empty(); }

 private:
  std::vector<Column> cols_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<std::vector<Color>> colors_;
};

/// Quotes an argv for display the way a shell would accept it.
std::string shell_join(const std::vector<std::string>& argv);

/// Last `n` lines of `text` (without a trailing empty line).
std::string last_lines(const std::string& text, std::size_t n);

}  // namespace kairos::cli

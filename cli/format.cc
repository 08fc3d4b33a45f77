#include "store/words.h"
#include "cli/format.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <numeric>

#include "schedule/rfc3339.h"

namespace kairos::cli {

Terminal Terminal::detect() {
  Terminal t;
  bool tty = ::isatty(STDOUT_FILENO) == 1;
  const char* no_color = std::getenv("NO_COLOR");
  t.color = tty && !(no_color && *no_color) && std::getenv("TERM") &&
            std::string(std::getenv("TERM")) != "dumb";
  if (tty) {
    winsize ws{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) t.width = ws.ws_col;
  }
  if (const char* cols = std::getenv("COLUMNS"); cols && t.width == 0) {
    // Explicit COLUMNS also applies to pipes (tests, `watch`).
    int w = std::atoi(cols);
    if (w > 0) t.width = w;
  }
  t.stderr_tty = ::isatty(STDERR_FILENO) == 1;
  return t;
}

std::string paint(const Terminal& term, Color c, const std::string& text) {
  if (!term.color || c == Color::none || text.empty()) return text;
  const char* code = "";
  switch (c) {
    case Color::bold:
      code = "1";
      break;
    case Color::dim:
      code = "2";
      break;
    case Color::red:
      code = "31";
      break;
    case Color::green:
      code = "32";
      break;
    case Color::yellow:
      code = "33";
      break;
    case Color::blue:
      code = "34";
      break;
    case Color::cyan:
      code = "36";
      break;
    case Color::none:
      break;
  }
  return std::string("\033[") + code + "m" + text + "\033[0m";
}

Color status_color(const std::string& s) {
  using store::RunStatus;
  if (auto st = store::parse_run_status(s)) {
    switch (*st) {
      case RunStatus::succeeded: return Color::green;
      case RunStatus::failed:
      case RunStatus::timed_out:
      case RunStatus::interrupted: return Color::red;
      case RunStatus::running:
      case RunStatus::queued: return Color::cyan;
      case RunStatus::cancelled:
      case RunStatus::skipped:
      case RunStatus::missed: return Color::yellow;
    }
  }
  // A job's state (list, show).
  if (s == "active") return Color::green;
  if (s == "paused") return Color::yellow;
  if (s == "disabled" || s == "done") return Color::dim;
  return Color::none;
}

const date::time_zone& local_zone() {
  static const date::time_zone* zone = [] {
    const date::time_zone* z = nullptr;
    if (const char* tz = std::getenv("TZ"); tz && *tz) {
      std::string name = tz[0] == ':' ? tz + 1 : tz;
      try {
        z = date::locate_zone(name);
      } catch (const std::exception&) {
      }
    }
    if (!z) {
      try {
        z = date::current_zone();
      } catch (const std::exception&) {
      }
    }
    if (!z) z = date::locate_zone("UTC");
    return z;
  }();
  return *zone;
}

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string short_duration(std::int64_t ms, bool millis) {
  if (ms < 0) ms = -ms;
  if (ms < 1000) return millis ? std::to_string(ms) + "ms" : "0s";
  std::int64_t s = ms / 1000;
  if (s < 60) {
    if (millis && s < 10) return std::to_string(s) + "." + std::to_string((ms % 1000) / 100) + "s";
    return std::to_string(s) + "s";
  }
  const std::pair<std::int64_t, const char*> units[] = {
      {86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}};
  std::string out;
  int parts = 0;
  for (auto [size, name] : units) {
    if (s >= size) {
      out += std::to_string(s / size) + name;
      s %= size;
      if (++parts == 2) break;
    } else if (parts == 1) {
      break;  // "2h" not "2h0m5s"; "1h30m" keeps two adjacent units only
    }
  }
  return out;
}

namespace {
/// Coarser than short_duration: one unit below an hour ("3m", "12s"), since an age or a
/// countdown is read at a glance; two above ("15h59m", "5d15h").
std::string coarse_duration(std::int64_t ms) {
  std::int64_t s = (ms < 0 ? -ms : ms) / 1000;
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m";
  return short_duration(ms);
}
}  // namespace

std::string relative(std::int64_t at_ms, std::int64_t now) {
  std::int64_t d = at_ms - now;
  if (d >= 0 && d < 1000) return "now";
  if (d > 0) return "in " + coarse_duration(d);
  return coarse_duration(-d) + " ago";
}

namespace {
date::zoned_time<std::chrono::milliseconds> zoned(std::int64_t ms) {
  return date::zoned_time<std::chrono::milliseconds>(
      &local_zone(), date::sys_time<std::chrono::milliseconds>(std::chrono::milliseconds(ms)));
}
}  // namespace

std::string local_time(std::int64_t at_ms, std::int64_t now) {
  auto t = date::floor<std::chrono::seconds>(zoned(at_ms).get_local_time());
  auto n = date::floor<std::chrono::seconds>(zoned(now).get_local_time());
  auto day = date::floor<date::days>(t);
  auto today = date::floor<date::days>(n);
  if (day == today) return date::format("%H:%M:%S", t);
  auto diff = (day - today).count();
  if (diff > -7 && diff < 7) return date::format("%a %H:%M", t);
  return date::format("%Y-%m-%d %H:%M", t);
}

std::string local_datetime(std::int64_t at_ms) {
  auto t = date::floor<std::chrono::seconds>(zoned(at_ms).get_local_time());
  return date::format("%Y-%m-%d %H:%M:%S", t);
}

std::string rfc3339(std::int64_t at_ms, const date::time_zone& tz) {
  using namespace std::chrono;
  return schedule::format_rfc3339(date::floor<seconds>(sys_time<milliseconds>(milliseconds(at_ms))),
                                  tz);
}

std::size_t display_width(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string truncate(const std::string& s, std::size_t width) {
  if (display_width(s) <= width) return s;
  if (width == 0) return "";
  std::string out;
  std::size_t cols = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) != 0x80) {
      if (cols == width - 1) break;
      ++cols;
    }
    out += s[i];
  }
  return out + "\xe2\x80\xa6";  // …
}

void Table::add(std::vector<std::string> cells, std::vector<Color> colors) {
  cells.resize(cols_.size());
  colors.resize(cols_.size(), Color::none);
  // Cells are single-line: a newline in a job description would break the alignment.
  for (auto& c : cells) std::replace(c.begin(), c.end(), '\n', ' ');
  rows_.push_back(std::move(cells));
  colors_.push_back(std::move(colors));
}

std::string Table::render(const Terminal& term) const {
  const std::size_t n = cols_.size();
  std::vector<std::size_t> w(n);
  for (std::size_t i = 0; i < n; ++i) {
    w[i] = display_width(cols_[i].header);
    for (const auto& r : rows_) w[i] = std::max(w[i], display_width(r[i]));
  }
  const std::size_t gap = 2;
  auto total = [&] { return std::accumulate(w.begin(), w.end(), std::size_t(0)) + gap * (n - 1); };
  if (term.width > 0) {
    // Shrink the widest flexible column one step at a time until the table fits
    // (never below its header or 8 columns).
    while (total() > std::size_t(term.width)) {
      std::size_t best = n;
      for (std::size_t i = 0; i < n; ++i) {
        std::size_t floor = std::max<std::size_t>(8, display_width(cols_[i].header));
        if (cols_[i].flexible && w[i] > floor && (best == n || w[i] > w[best])) best = i;
      }
      if (best == n) break;
      --w[best];
    }
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells, const std::vector<Color>* colors,
                  bool header) {
    std::string l;
    for (std::size_t i = 0; i < n; ++i) {
      std::string cell = truncate(cells[i], w[i]);
      std::size_t pad = w[i] - display_width(cell);
      bool last = i + 1 == n;
      Color c = header ? Color::bold : (*colors)[i];
      if (cols_[i].right) l += std::string(pad, ' ');
      l += paint(term, c, cell);
      if (!cols_[i].right && !last) l += std::string(pad, ' ');
      if (!last) l += std::string(gap, ' ');
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l + "\n";
  };
  std::vector<std::string> headers;
  for (const auto& c : cols_) headers.push_back(c.header);
  line(headers, nullptr, true);
  for (std::size_t r = 0; r < rows_.size(); ++r) line(rows_[r], &colors_[r], false);
  return out;
}

std::string shell_join(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    bool plain = !a.empty() && a.find_first_not_of(
                                   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "0123456789-_./=:,+@%") == std::string::npos;
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) {
      if (c == '\'')
        out += "'\\''";
      else
        out += c;
    }
    out += '\'';
  }
  return out;
}

std::string last_lines(const std::string& text, std::size_t n) {
  std::string t = text;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  std::size_t start = t.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (start == 0) return t;
    auto nl = t.rfind('\n', start - 1);
    if (nl == std::string::npos) return t;
    start = nl;
  }
  return t.substr(start + 1);
}

}  // namespace kairos::cli

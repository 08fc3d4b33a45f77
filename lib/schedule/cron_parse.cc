// The cron parser. It works on the expression as written so that every error can point at the
// exact column; the grammar is described in docs/cron.md.
#include <algorithm>
#include <bit>
#include <cctype>
#include <cstdio>
#include <string>
#include <vector>

#include "schedule/cron.h"

namespace kairos::schedule {
namespace {

enum FieldId { kSecond, kMinute, kHour, kDom, kMonth, kDow };

struct FieldInfo {
  const char* name;
  int lo;
  int hi;        // highest value a user may write (7 for day-of-week)
  int step_max;  // highest value `a/n` and `*` run to (6 for day-of-week: 7 is only an alias)
};

constexpr FieldInfo kFields[] = {
    {"second", 0, 59, 59},       {"minute", 0, 59, 59}, {"hour", 0, 23, 23},
    {"day-of-month", 1, 31, 31}, {"month", 1, 12, 12},  {"day-of-week", 0, 7, 6},
};

constexpr const char* kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                       "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr const char* kDayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

struct Macro {
  const char* name;
  const char* expansion;
};
constexpr Macro kMacros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) ==
                  std::toupper(static_cast<unsigned char>(y));
         });
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string quote_char(char c) {
  if (std::isprint(static_cast<unsigned char>(c))) return std::string("'") + c + "'";
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
  return buf;
}

struct Token {
  std::string_view text;
  int column;  // 1-based column of text[0] in the whole expression
};

}  // namespace

namespace detail {

/// Parses one expression into a CronSpec. Every method that can fail returns false after
/// storing the first error; the caller stops at the first false.
class CronBuilder {
 public:
  std::variant<CronSpec, CronError> run(std::string_view expr);

 private:
  bool parse_fields(const std::vector<Token>& fields);
  bool parse_field(FieldId id, Token field);
  bool parse_item(FieldId id, Token field, std::size_t& pos);
  bool parse_value(FieldId id, Token field, std::size_t& pos, int& value);
  bool parse_number(FieldId id, Token field, std::size_t& pos, int& value, int lo, int hi,
                    std::string_view prefix);
  bool check_item_end(FieldId id, Token field, std::size_t pos);
  bool check_can_fire(Token dom_field);
  bool fail(int column, std::string message) {
    error_ = CronError{std::move(message) + " at column " + std::to_string(column), column};
    return false;
  }
  bool fail_field(FieldId id, int column, const std::string& what) {
    return fail(column, std::string(kFields[id].name) + ": " + what);
  }
  void set_bit(FieldId id, int v);

  CronSpec spec_;
  CronError error_;
};

void CronBuilder::set_bit(FieldId id, int v) {
  switch (id) {
    case kSecond:
      spec_.seconds_ |= std::uint64_t{1} << v;
      break;
    case kMinute:
      spec_.minutes_ |= std::uint64_t{1} << v;
      break;
    case kHour:
      spec_.hours_ |= std::uint32_t{1} << v;
      break;
    case kDom:
      spec_.dom_ |= std::uint32_t{1} << v;
      break;
    case kMonth:
      spec_.months_ |= static_cast<std::uint16_t>(1u << v);
      break;
    case kDow:
      spec_.dow_ |= static_cast<std::uint8_t>(1u << (v % 7));
      break;
  }
}

std::variant<CronSpec, CronError> CronBuilder::run(std::string_view expr) {
  std::vector<Token> tokens;
  for (std::size_t i = 0; i < expr.size();) {
    if (is_space(expr[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < expr.size() && !is_space(expr[j])) ++j;
    tokens.push_back({expr.substr(i, j - i), static_cast<int>(i) + 1});
    i = j;
  }
  const int end_column = static_cast<int>(expr.size()) + 1;
  if (tokens.empty()) {
    fail(1, "empty expression: expected 5 or 6 fields or a macro such as @daily");
    return error_;
  }
  spec_.source_ = std::string(expr);
  if (tokens[0].text.front() == '@') {
    const Macro* macro = nullptr;
    for (const Macro& m : kMacros) {
      if (iequals(tokens[0].text, m.name)) macro = &m;
    }
    if (macro == nullptr) {
      fail(tokens[0].column, "unknown macro '" + std::string(tokens[0].text) +
                                 "' (expected @yearly, @annually, @monthly, @weekly, @daily, "
                                 "@midnight or @hourly)");
      return error_;
    }
    if (tokens.size() > 1) {
      fail(tokens[1].column, std::string(macro->name) + " takes no further fields");
      return error_;
    }
    CronBuilder inner;
    auto parsed = inner.run(macro->expansion);
    CronSpec spec = std::get<CronSpec>(std::move(parsed));
    spec.source_ = spec_.source_;
    return spec;
  }
  if (tokens.size() != 5 && tokens.size() != 6) {
    const int column = tokens.size() > 6 ? tokens[6].column : end_column;
    fail(column,
         "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (with "
         "leading seconds), got " +
             std::to_string(tokens.size()));
    return error_;
  }
  if (!parse_fields(tokens)) return error_;
  return std::move(spec_);
}

bool CronBuilder::parse_fields(const std::vector<Token>& tokens) {
  const bool with_seconds = tokens.size() == 6;
  const std::size_t first = with_seconds ? 0 : 1;
  if (!with_seconds) spec_.seconds_ = 1;  // second 0
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (!parse_field(static_cast<FieldId>(first + i), tokens[i])) return false;
  }
  auto starts_wild = [](Token t) { return t.text.front() == '*' || t.text.front() == '?'; };
  const Token& dom = tokens[tokens.size() - 3];
  const Token& dow = tokens[tokens.size() - 1];
  spec_.dom_star_ = starts_wild(dom);
  spec_.dow_star_ = starts_wild(dow);
  spec_.fixed_time_ = true;
  for (std::size_t i = 0; i < tokens.size() - 3; ++i) {
    if (starts_wild(tokens[i])) spec_.fixed_time_ = false;
  }
  for (unsigned f = 0; f < 7; ++f) {
    std::uint32_t pattern = 0;
    for (unsigned d = 1; d <= 31; ++d) {
      if (spec_.dow_ & (1u << ((f + d - 1) % 7))) pattern |= 1u << d;
    }
    spec_.dow_pattern_[f] = pattern;
  }
  return check_can_fire(dom);
}

bool CronBuilder::parse_field(FieldId id, Token field) {
  std::size_t pos = 0;
  while (true) {
    if (pos >= field.text.size() || field.text[pos] == ',') {
      return fail_field(id, field.column + static_cast<int>(pos), "empty list element");
    }
    if (!parse_item(id, field, pos)) return false;
    if (pos == field.text.size()) return true;
    ++pos;  // the ',' (parse_item checked it)
  }
}

bool CronBuilder::check_item_end(FieldId id, Token field, std::size_t pos) {
  if (pos == field.text.size() || field.text[pos] == ',') return true;
  return fail_field(id, field.column + static_cast<int>(pos),
                    "unexpected " + quote_char(field.text[pos]));
}

bool CronBuilder::parse_number(FieldId id, Token field, std::size_t& pos, int& value, int lo,
                               int hi, std::string_view prefix) {
  const std::size_t start = pos;
  long long v = 0;
  while (pos < field.text.size() && std::isdigit(static_cast<unsigned char>(field.text[pos]))) {
    v = std::min<long long>(v * 10 + (field.text[pos] - '0'), 1'000'000'000LL);
    ++pos;
  }
  const int column = field.column + static_cast<int>(start);
  if (pos == start) {
    if (pos == field.text.size()) return fail_field(id, column, "expected a number");
    return fail_field(id, column, "expected a number, found " + quote_char(field.text[pos]));
  }
  if (v < lo || v > hi) {
    return fail_field(id, column,
                      std::string(prefix) + std::string(field.text.substr(start, pos - start)) +
                          " is out of range " + std::to_string(lo) + "-" + std::to_string(hi));
  }
  value = static_cast<int>(v);
  return true;
}

bool CronBuilder::parse_value(FieldId id, Token field, std::size_t& pos, int& value) {
  const FieldInfo& info = kFields[id];
  if (pos < field.text.size() && std::isalpha(static_cast<unsigned char>(field.text[pos]))) {
    const std::size_t start = pos;
    while (pos < field.text.size() && std::isalpha(static_cast<unsigned char>(field.text[pos]))) {
      ++pos;
    }
    std::string_view word = field.text.substr(start, pos - start);
    // "FRIL" is FRI followed by the L modifier.
    if (id == kDow && word.size() == 4 && (word[3] == 'L' || word[3] == 'l')) {
      word = word.substr(0, 3);
      --pos;
    }
    const int column = field.column + static_cast<int>(start);
    if (id == kMonth) {
      for (int m = 0; m < 12; ++m) {
        if (iequals(word, kMonthNames[m])) {
          value = m + 1;
          return true;
        }
      }
    } else if (id == kDow) {
      for (int d = 0; d < 7; ++d) {
        if (iequals(word, kDayNames[d])) {
          value = d;
          return true;
        }
      }
    } else {
      return fail_field(id, column, "unexpected " + quote_char(field.text[start]));
    }
    return fail_field(id, column,
                      "unknown name '" + std::string(word) + "' (expected " +
                          (id == kMonth ? "JAN-DEC" : "SUN-SAT") + ")");
  }
  return parse_number(id, field, pos, value, info.lo, info.hi, "");
}

bool CronBuilder::parse_item(FieldId id, Token field, std::size_t& pos) {
  const FieldInfo& info = kFields[id];
  const std::string_view text = field.text;
  auto at = [&](char upper) {
    return pos < text.size() && std::toupper(static_cast<unsigned char>(text[pos])) == upper;
  };
  auto column = [&](std::size_t p) { return field.column + static_cast<int>(p); };
  const int span = info.step_max - info.lo + 1;
  auto parse_step = [&](int& step) {
    ++pos;  // '/'
    return parse_number(id, field, pos, step, 1, span, "step ");
  };

  if (at('*') || at('?')) {
    ++pos;
    int step = 1;
    if (at('/') && !parse_step(step)) return false;
    if (at('-')) {
      return fail_field(id, column(pos), "a range cannot start with '*' or '?'");
    }
    if (!check_item_end(id, field, pos)) return false;
    for (int v = info.lo; v <= info.step_max; v += step) set_bit(id, v);
    return true;
  }
  if (at('L')) {
    const std::size_t start = pos;
    if (id == kDow) {
      return fail_field(id, column(start),
                        "'L' needs a weekday before it (e.g. 5L or FRIL, the last Friday)");
    }
    if (id != kDom) {
      return fail_field(id, column(start), "'L' is only allowed in day-of-month and day-of-week");
    }
    ++pos;
    if (at('W')) {
      ++pos;
      spec_.dom_last_weekday_ = true;
    } else if (at('-')) {
      ++pos;
      int n = 0;
      if (!parse_number(id, field, pos, n, 0, 30, "L-")) return false;
      spec_.dom_last_ |= 1u << n;
    } else {
      spec_.dom_last_ |= 1u;
    }
    return check_item_end(id, field, pos);
  }
  const std::size_t start = pos;
  int lo = 0;
  if (!parse_value(id, field, pos, lo)) return false;
  if (at('W')) {
    if (id != kDom) {
      return fail_field(id, column(pos), "'W' is only allowed in day-of-month");
    }
    ++pos;
    spec_.dom_nearest_ |= 1u << lo;
    return check_item_end(id, field, pos);
  }
  if (at('L')) {
    if (id != kDow) {
      return fail_field(id, column(pos),
                        id == kDom ? "'L' must stand alone (L, L-n or LW)"
                                   : "'L' is only allowed in day-of-month and day-of-week");
    }
    ++pos;
    spec_.dow_last_ |= static_cast<std::uint8_t>(1u << (lo % 7));
    return check_item_end(id, field, pos);
  }
  if (at('#')) {
    if (id != kDow) return fail_field(id, column(pos), "'#' is only allowed in day-of-week");
    ++pos;
    int n = 0;
    if (!parse_number(id, field, pos, n, 1, 5, "#")) return false;
    spec_.dow_nth_[lo % 7] |= static_cast<std::uint8_t>(1u << n);
    return check_item_end(id, field, pos);
  }
  int hi = lo;
  bool is_range = false;
  if (at('-')) {
    ++pos;
    if (!parse_value(id, field, pos, hi)) return false;
    // SUN is 0, so "FRI-SUN" is read as 5-7.
    if (id == kDow && hi == 0 && lo > 0) hi = 7;
    if (hi < lo) {
      return fail_field(id, column(start),
                        "range " + std::string(text.substr(start, pos - start)) +
                            " runs backwards (write it as two ranges)");
    }
    is_range = true;
  }
  int step = 1;
  if (at('/')) {
    if (!parse_step(step)) return false;
    if (!is_range) hi = std::max(lo, info.step_max);  // "a/n" runs from a to the maximum
  }
  if (!check_item_end(id, field, pos)) return false;
  for (int v = lo; v <= hi; v += step) set_bit(id, v);
  return true;
}

bool CronBuilder::check_can_fire(Token dom_field) {
  // Whether a day matches depends only on the month, its length and the weekday of its first
  // day; every combination of those occurs in the 400-year Gregorian cycle, so this check is
  // exact.
  for (unsigned m = 1; m <= 12; ++m) {
    if (!(spec_.months_ & (1u << m))) continue;
    constexpr unsigned kLengths[] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (unsigned len = (m == 2 ? 28 : kLengths[m]); len <= kLengths[m]; ++len) {
      for (unsigned f = 0; f < 7; ++f) {
        if (spec_.day_mask(f, len) != 0) return true;
      }
    }
  }
  std::string months;
  for (unsigned m = 1; m <= 12; ++m) {
    if (spec_.months_ & (1u << m))
      months += std::string(months.empty() ? "" : ", ") + kMonthNames[m - 1];
  }
  const bool plain_days = spec_.dom_last_ == 0 && !spec_.dom_last_weekday_ &&
                          spec_.dom_nearest_ == 0 && spec_.dow_ == 0x7f && spec_.dow_last_ == 0 &&
                          std::all_of(spec_.dow_nth_.begin(), spec_.dow_nth_.end(),
                                      [](std::uint8_t n) { return n == 0; });
  if (plain_days) {
    std::string days;
    for (int d = 1; d <= 31; ++d) {
      if (spec_.dom_ & (1u << d)) days += (days.empty() ? "" : ",") + std::to_string(d);
    }
    const bool one = std::popcount(spec_.dom_) == 1;
    return fail(dom_field.column, std::string("day-of-month: ") + (one ? "day " : "days ") + days +
                                      (one ? " never occurs" : " never occur") + " in " + months +
                                      ", so the expression can never fire");
  }
  return fail(dom_field.column,
              "day-of-month: no day of " + months +
                  " matches both day-of-month and day-of-week, so the expression can never fire");
}

}  // namespace detail

std::variant<CronSpec, CronError> parse_cron(std::string_view expr) {
  detail::CronBuilder builder;
  return builder.run(expr);
}

}  // namespace kairos::schedule

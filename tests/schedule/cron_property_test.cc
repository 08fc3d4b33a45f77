// Property tests: random expressions in several zones, compared with a slow brute-force
// evaluator that walks absolute time minute by minute (second by second for 6-field
// expressions) and decides each instant from its own model of the expression. The model is
// built by the generator alongside the expression text, so it shares nothing with the parser,
// and the DST rule is restated here from docs/cron.md in its most literal form.
#include <algorithm>
#include <random>
#include <set>
#include <string_view>

#include "cron_test_util.h"

namespace kairos::schedule {
namespace {

using std::chrono::days;
using std::chrono::minutes;
using std::chrono::seconds;
using std::chrono::sys_seconds;

struct Model {
  std::set<int> sec, min, hour, dom, month, dow;
  std::set<int> dom_last;  // L-n
  bool last_weekday = false;
  std::set<int> nearest;              // nW
  std::set<int> dow_last;             // wL
  std::set<std::pair<int, int>> nth;  // w#n
  bool dom_star = false, dow_star = false, fixed = true;
  bool six = false;
};

class Generator {
 public:
  explicit Generator(std::uint32_t seed) : rng_(seed) {}

  /// Makes expression() use `hour` (and maybe its neighbours) in the hour field; -1 = random.
  void force_hour(int hour) { force_hour_ = hour; }

  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool chance(int percent) { return uniform(1, 100) <= percent; }

  // One time-like field: returns the text and fills `out`; `star` tells whether it begins '*'.
  std::string plain_field(int lo, int hi, int weight_star, std::set<int>& out, bool& star) {
    star = chance(weight_star);
    if (star) {
      if (chance(50)) {
        for (int v = lo; v <= hi; ++v) out.insert(v);
        return chance(80) ? "*" : "?";
      }
      const int step = uniform(2, std::max(2, (hi - lo + 1) / 2));
      for (int v = lo; v <= hi; v += step) out.insert(v);
      return "*/" + std::to_string(step);
    }
    std::string text;
    const int items = uniform(1, 3);
    for (int i = 0; i < items; ++i) {
      if (!text.empty()) text += ",";
      const int a = uniform(lo, hi);
      switch (uniform(0, 3)) {
        case 0:
          out.insert(a);
          text += std::to_string(a);
          break;
        case 1: {
          const int b = uniform(a, hi);
          for (int v = a; v <= b; ++v) out.insert(v);
          text += std::to_string(a) + "-" + std::to_string(b);
          break;
        }
        case 2: {
          const int b = uniform(a, hi), step = uniform(1, 5);
          for (int v = a; v <= b; v += step) out.insert(v);
          text += std::to_string(a) + "-" + std::to_string(b) + "/" + std::to_string(step);
          break;
        }
        default: {
          const int step = uniform(1, 7);
          for (int v = a; v <= hi; v += step) out.insert(v);
          text += std::to_string(a) + "/" + std::to_string(step);
        }
      }
    }
    return text;
  }

  std::string expression(Model& m) {
    std::string text;
    bool star = false;
    m.six = chance(15);
    if (m.six) {
      text += plain_field(0, 59, 30, m.sec, star) + " ";
      if (star) m.fixed = false;
    } else {
      m.sec.insert(0);
    }
    text += plain_field(0, 59, 40, m.min, star) + " ";
    if (star) m.fixed = false;
    if (force_hour_ >= 0) {
      // Hours around a DST transition: the hour itself and maybe its neighbours.
      std::set<int> hours{force_hour_};
      if (chance(50)) hours.insert((force_hour_ + 23) % 24);
      if (chance(50)) hours.insert((force_hour_ + 1) % 24);
      std::string list;
      for (int h : hours) list += (list.empty() ? "" : ",") + std::to_string(h);
      m.hour = hours;
      text += list + " ";
    } else {
      text += plain_field(0, 23, 50, m.hour, star) + " ";
      if (star) m.fixed = false;
    }
    // Day of month, with the modifiers now and then.
    if (chance(25)) {
      m.dom_star = false;
      std::string dom;
      const int items = uniform(1, 2);
      for (int i = 0; i < items; ++i) {
        if (!dom.empty()) dom += ",";
        switch (uniform(0, 3)) {
          case 0: {
            const int n = uniform(0, 4);
            m.dom_last.insert(n);
            dom += n == 0 ? "L" : "L-" + std::to_string(n);
            break;
          }
          case 1:
            m.last_weekday = true;
            dom += "LW";
            break;
          case 2: {
            const int n = chance(50) ? uniform(1, 3) : uniform(27, 31);
            m.nearest.insert(n);
            dom += std::to_string(n) + "W";
            break;
          }
          default: {
            const int n = uniform(1, 31);
            m.dom.insert(n);
            dom += std::to_string(n);
          }
        }
      }
      text += dom + " ";
    } else {
      text += plain_field(1, 31, 60, m.dom, m.dom_star) + " ";
    }
    bool month_star = false;
    text += plain_field(1, 12, 75, m.month, month_star) + " ";
    if (chance(20)) {
      m.dow_star = false;
      const int w = uniform(0, 7);
      if (chance(50)) {
        m.dow_last.insert(w % 7);
        text += std::to_string(w) + "L";
      } else {
        const int n = uniform(1, 5);
        m.nth.insert({w % 7, n});
        text += std::to_string(w) + "#" + std::to_string(n);
      }
    } else {
      std::set<int> dow;
      text += plain_field(0, 6, 60, dow, m.dow_star);
      m.dow = dow;
    }
    return text;
  }

 private:
  std::mt19937 rng_;
  int force_hour_ = -1;
};

// The day-of-month/day-of-week decision, restated.
bool day_matches(const Model& m, date::year_month_day ymd) {
  const int d = static_cast<int>(static_cast<unsigned>(ymd.day()));
  const int len = static_cast<int>(static_cast<unsigned>(
      date::year_month_day_last{ymd.year() / ymd.month() / date::last}.day()));
  auto weekday = [&](int day) {
    return static_cast<int>(
        date::weekday{date::sys_days{ymd.year() / ymd.month() / date::day(day)}}.c_encoding());
  };
  auto is_weekday = [&](int day) { return weekday(day) >= 1 && weekday(day) <= 5; };
  bool dom = m.dom.count(d) > 0;
  for (int n : m.dom_last) dom |= d == len - n;
  if (m.last_weekday) {
    int last = len;
    while (!is_weekday(last)) --last;
    dom |= d == last;
  }
  for (int n : m.nearest) {
    if (n > len) continue;
    // Nearest weekday inside the month, searching outwards.
    for (int k = 0; k < 3; ++k) {
      if (n - k >= 1 && is_weekday(n - k)) {
        dom |= d == n - k;
        break;
      }
      if (n + k <= len && is_weekday(n + k)) {
        dom |= d == n + k;
        break;
      }
    }
  }
  const int w = weekday(d);
  bool dow = m.dow.count(w) > 0;
  dow |= m.dow_last.count(w) > 0 && d + 7 > len;
  dow |= m.nth.count({w, (d - 1) / 7 + 1}) > 0;
  return m.dom_star || m.dow_star ? dom && dow : dom || dow;
}

bool matches(const Model& m, date::local_seconds t) {
  const auto day = std::chrono::floor<days>(t);
  const date::year_month_day ymd{day};
  const date::hh_mm_ss<seconds> tod{t - day};
  return m.sec.count(static_cast<int>(tod.seconds().count())) &&
         m.min.count(static_cast<int>(tod.minutes().count())) &&
         m.hour.count(static_cast<int>(tod.hours().count())) &&
         m.month.count(static_cast<int>(static_cast<unsigned>(ymd.month()))) && day_matches(m, ymd);
}

// Every firing in (begin, end], straight from docs/cron.md's rules.
std::vector<sys_seconds> brute_force(const Model& m, const date::time_zone& tz, sys_seconds begin,
                                     sys_seconds end) {
  const seconds step = m.six ? seconds{1} : seconds{60};
  std::vector<sys_seconds> out;
  auto add = [&out](sys_seconds t) {
    if (out.empty() || out.back() != t) out.push_back(t);
  };
  date::sys_info info = tz.get_info(begin);
  for (sys_seconds t = begin + step; t <= end; t += step) {
    if (t >= info.end) {
      const seconds before = info.offset;
      info = tz.get_info(t);
      // Rule 2: a fixed-time wall time inside the gap fires once, when the gap ends.
      if (m.fixed && info.offset > before && t == info.begin) {
        const date::local_seconds gap{t.time_since_epoch() + before};
        for (date::local_seconds l = gap; l < gap + (info.offset - before); l += step) {
          if (matches(m, l)) {
            add(t);
            break;
          }
        }
      }
    }
    const date::local_seconds local{t.time_since_epoch() + info.offset};
    if (!matches(m, local)) continue;
    // Rule 3: a fixed-time job fires at the first of two equal wall times only.
    if (m.fixed) {
      const date::local_info li = tz.get_info(local);
      if (li.result == date::local_info::ambiguous &&
          t == sys_seconds{local.time_since_epoch() - li.second.offset}) {
        continue;
      }
    }
    add(t);
  }
  return out;
}

// Compares next_fire() with the brute force over (begin, end]; returns the number of firings.
int check_window(const CronSpec& spec, const Model& model, const std::string& expr,
                 const date::time_zone& tz, sys_seconds begin, sys_seconds end) {
  const std::vector<sys_seconds> expected = brute_force(model, tz, begin, end);
  std::vector<sys_seconds> actual;
  for (sys_seconds t = begin;;) {
    auto next = next_fire(spec, t, tz);
    EXPECT_TRUE(next.has_value()) << expr;
    if (!next) return 0;
    EXPECT_GT(*next, t) << expr;
    if (*next <= t || *next > end) break;
    actual.push_back(t = *next);
  }
  EXPECT_EQ(actual.size(), expected.size())
      << "'" << expr << "' in " << tz.name() << " from " << format_rfc3339(begin, tz);
  for (std::size_t i = 0; i < std::min(actual.size(), expected.size()); ++i) {
    if (actual[i] != expected[i]) {
      ADD_FAILURE() << "'" << expr << "' in " << tz.name() << " firing " << i << ": got "
                    << format_rfc3339(actual[i], tz) << ", brute force says "
                    << format_rfc3339(expected[i], tz);
      break;
    }
  }
  return static_cast<int>(actual.size());
}

struct ZoneCase {
  const char* zone;
  std::uint32_t seed;
};

void PrintTo(const ZoneCase& c, std::ostream* os) { *os << c.zone; }

class CronProperty : public testing::TestWithParam<ZoneCase> {};

TEST_P(CronProperty, AgreesWithBruteForce) {
  const ZoneCase& zc = GetParam();
  const date::time_zone& tz = *date::locate_zone(zc.zone);
  Generator gen(zc.seed);
  int checked = 0, firings_seen = 0;
  for (int round = 0; round < 60; ++round) {
    Model model;
    const std::string expr = gen.expression(model);
    auto parsed = parse_cron(expr);
    if (std::holds_alternative<CronError>(parsed)) {
      // Only "can never fire" may be rejected; the generator writes nothing else invalid.
      EXPECT_NE(std::get<CronError>(parsed).message.find("never"), std::string::npos) << expr;
      continue;
    }
    const CronSpec& spec = std::get<CronSpec>(parsed);
    ASSERT_EQ(spec.fixed_time(), model.fixed) << expr;
    // Half of the windows start just before a transition of the zone, when it has one.
    sys_seconds begin =
        date::sys_days{date::year{2025} / 1 / 1} + seconds{gen.uniform(0, 3 * 365 * 86400)};
    if (gen.chance(50)) {
      const date::sys_info info = tz.get_info(begin);
      if (info.end < date::sys_days{date::year{2030} / 1 / 1}) {
        begin = info.end - seconds{gen.uniform(60, (model.six ? 1 : 5) * 86400)};
      }
    }
    begin = std::chrono::floor<minutes>(begin);  // the brute force steps whole minutes
    const sys_seconds end = begin + (model.six ? days{1} : days{31});
    const int fired = check_window(spec, model, expr, tz, begin, end);
    if (HasFailure()) return;
    ++checked;
    firings_seen += fired;
  }
  EXPECT_GT(checked, 40);
  EXPECT_GT(firings_seen, 100);
}

// Random expressions whose hours sit on each DST transition of 2025-2027, checked over the two
// days around it: gaps, overlaps, shifted and coinciding firings.
TEST_P(CronProperty, AgreesWithBruteForceAroundTransitions) {
  const ZoneCase& zc = GetParam();
  const date::time_zone& tz = *date::locate_zone(zc.zone);
  Generator gen(zc.seed + 1000);
  int transitions = 0;
  for (date::sys_info info = tz.get_info(date::sys_days{date::year{2025} / 1 / 1});
       info.end < date::sys_days{date::year{2028} / 1 / 1}; info = tz.get_info(info.end)) {
    ++transitions;
    // The wall-clock hour at which the change happens, before and after it.
    const date::local_seconds before{info.end.time_since_epoch() + info.offset};
    const date::local_seconds after{info.end.time_since_epoch() + tz.get_info(info.end).offset};
    for (int round = 0; round < 12; ++round) {
      const date::local_seconds wall = round % 2 == 0 ? before : after;
      gen.force_hour(static_cast<int>(
          date::hh_mm_ss<seconds>{wall - std::chrono::floor<days>(wall)}.hours().count()));
      Model model;
      const std::string expr = gen.expression(model);
      auto parsed = parse_cron(expr);
      if (std::holds_alternative<CronError>(parsed)) continue;
      const CronSpec& spec = std::get<CronSpec>(parsed);
      const sys_seconds begin = info.end - (model.six ? std::chrono::hours{3} : days{1});
      const sys_seconds end = info.end + (model.six ? std::chrono::hours{3} : days{1});
      check_window(spec, model, expr, tz, begin, end);
      if (HasFailure()) return;
    }
  }
  if (std::string_view(zc.zone) != "UTC" && std::string_view(zc.zone) != "Asia/Kolkata") {
    EXPECT_GE(transitions, 4) << zc.zone;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Zones, CronProperty,
    testing::Values(ZoneCase{"UTC", 1}, ZoneCase{"Europe/Berlin", 2},
                    ZoneCase{"America/New_York", 3}, ZoneCase{"Australia/Lord_Howe", 4},
                    ZoneCase{"Pacific/Chatham", 5}, ZoneCase{"Asia/Kolkata", 6},
                    ZoneCase{"America/Santiago", 7}, ZoneCase{"America/Havana", 8},
                    ZoneCase{"Asia/Beirut", 9}));

}  // namespace
}  // namespace kairos::schedule

// Canonical printing of a CronSpec, used for round-trip tests and diagnostics.
#include <bit>

#include "schedule/cron.h"

namespace kairos::schedule {
namespace {

// Values lo..hi from `bits` as a comma list with runs of three or more written as ranges.
std::string list(std::uint64_t bits, int lo, int hi) {
  std::string out;
  for (int v = lo; v <= hi; ++v) {
    if (!(bits >> v & 1)) continue;
    int end = v;
    while (end + 1 <= hi && (bits >> (end + 1) & 1)) ++end;
    auto add = [&out](const std::string& s) { out += (out.empty() ? "" : ",") + s; };
    if (end - v >= 2) {
      add(std::to_string(v) + "-" + std::to_string(end));
    } else {
      for (int k = v; k <= end; ++k) add(std::to_string(k));
    }
    v = end;
  }
  return out;
}

// A field that must begin with '*' (it decides the OR rule or the fixed-time rule). Such a field
// always contains its lowest value, so "*/n" or "*/span,..." can express it.
std::string star_list(std::uint64_t bits, int lo, int hi) {
  const int span = hi - lo + 1;
  for (int step = 1; step <= span; ++step) {
    std::uint64_t expect = 0;
    for (int v = lo; v <= hi; v += step) expect |= std::uint64_t{1} << v;
    if (expect == bits) return step == 1 ? "*" : "*/" + std::to_string(step);
  }
  const std::string rest = list(bits & ~(std::uint64_t{1} << lo), lo, hi);
  return "*/" + std::to_string(span) + (rest.empty() ? "" : "," + rest);
}

}  // namespace

std::string to_string(const CronSpec& s) {
  std::string fields[6];
  const std::uint64_t time_bits[3] = {s.seconds(), s.minutes(), s.hours()};
  const int time_hi[3] = {59, 59, 23};
  // A wildcard schedule needs a time field that begins with '*'; any full field can be "*",
  // else the first that contains its lowest value gets the "*/n" form. A fixed-time schedule
  // must not print '*' in these fields at all.
  bool any_full = false;
  for (int i = 0; i < 3; ++i) {
    const std::uint64_t all = (std::uint64_t{1} << (time_hi[i] + 1)) - 1;
    if (!s.fixed_time() && time_bits[i] == all) {
      fields[i] = "*";
      any_full = true;
    } else {
      fields[i] = list(time_bits[i], 0, time_hi[i]);
    }
  }
  for (int i = 0; i < 3 && !s.fixed_time() && !any_full; ++i) {
    if (time_bits[i] & 1) {
      fields[i] = star_list(time_bits[i], 0, time_hi[i]);
      break;
    }
  }
  std::string dom =
      s.dom_star() ? star_list(s.days_of_month(), 1, 31) : list(s.days_of_month(), 1, 31);
  auto add = [](std::string& field, const std::string& item) {
    field += (field.empty() ? "" : ",") + item;
  };
  for (int n = 0; n <= 30; ++n) {
    if (s.dom_last_offsets() >> n & 1) add(dom, n == 0 ? "L" : "L-" + std::to_string(n));
  }
  if (s.dom_last_weekday()) add(dom, "LW");
  for (int n = 1; n <= 31; ++n) {
    if (s.dom_nearest_weekday() >> n & 1) add(dom, std::to_string(n) + "W");
  }
  fields[3] = dom;
  fields[4] = s.months() == 0x1ffe ? "*" : list(s.months(), 1, 12);
  std::string dow = s.dow_star() ? star_list(s.days_of_week(), 0, 6) : list(s.days_of_week(), 0, 6);
  for (int w = 0; w < 7; ++w) {
    if (s.dow_last() >> w & 1) add(dow, std::to_string(w) + "L");
    for (int n = 1; n <= 5; ++n) {
      if (s.dow_nth()[w] >> n & 1) add(dow, std::to_string(w) + "#" + std::to_string(n));
    }
  }
  fields[5] = dow;
  std::string out;
  for (const std::string& f : fields) out += (out.empty() ? "" : " ") + f;
  return out;
}

}  // namespace kairos::schedule

#include "config/job_reader.h"

#include <date/tz.h>

#include <algorithm>
#include <array>
#include <vector>

#include "config/accounts.h"
#include "config/cron_check.h"
#include "schedule/rfc3339.h"
#include "config/suggest.h"

namespace kairos::config {
namespace {

using namespace std::chrono_literals;

constexpr std::array<std::string_view, 17> kJobKeys{
    "description",   "command",    "shell",        "schedule", "working_dir", "env",
    "timeout",       "kill_grace", "output_limit", "enabled",  "retry",       "concurrency",
    "max_instances", "pool",       "catch_up",     "user",     "group"};
// The job keys that make sense for every job, plus the default cron time zone.
constexpr std::array<std::string_view, 13> kDefaultsKeys{
    "timezone",    "working_dir",   "env",  "timeout",  "kill_grace", "output_limit", "retry",
    "concurrency", "max_instances", "pool", "catch_up", "user",       "group"};
constexpr std::array<std::string_view, 6> kScheduleKeys{"after", "at",     "every",
                                                        "cron",  "jitter", "timezone"};
constexpr std::array<std::string_view, 6> kRetryKeys{"attempts",    "backoff", "factor",
                                                     "max_backoff", "jitter",  "on"};
constexpr std::array<std::string_view, 2> kCatchUpKeys{"policy", "max_age"};
constexpr std::array<std::string_view, 4> kOverlapNames{"allow", "forbid", "replace", "queue"};
constexpr std::array<std::string_view, 3> kCatchUpNames{"none", "last", "all"};
constexpr std::array<std::string_view, 2> kRetryOnNames{"failure", "timeout"};

constexpr Duration kMinEvery = 10ms;

// True when no problem was reported since `before`.
struct Guard {
  const Reader& reader;
  std::size_t before = reader.error_count();
  bool clean() const { return reader.error_count() == before; }
};

std::optional<std::string> read_zone(const Reader& r, const Entry& e) {
  auto name = r.nonempty_string(e);
  if (!name) return std::nullopt;
  try {
    date::locate_zone(*name);
    return name;
  } catch (const std::exception&) {
    std::vector<std::string_view> names;
    try {
      for (const auto& zone : date::get_tzdb().zones) names.push_back(zone.name());
    } catch (const std::exception&) {
      // No time zone database at all: the message below still says what is wrong.
    }
    r.error(e.value_loc,
            e.key + ": unknown time zone '" + *name + "'" + did_you_mean(*name, names));
    return std::nullopt;
  }
}

void read_retry(const Reader& r, const Entry& entry, RetryPolicy& retry) {
  auto entries = r.entries(entry.value, entry.value_loc, entry.key);
  r.keep_known(entries, kRetryKeys);
  for (const Entry& e : entries) {
    if (e.key == "attempts") {
      if (auto v = r.integer(e, 1, 1000)) retry.attempts = static_cast<int>(*v);
    } else if (e.key == "backoff") {
      if (auto v = r.duration(e)) retry.backoff = *v;
    } else if (e.key == "factor") {
      if (auto v = r.number(e, 1.0, 1000.0)) retry.factor = *v;
    } else if (e.key == "max_backoff") {
      if (auto v = r.duration(e)) retry.max_backoff = *v;
    } else if (e.key == "jitter") {
      if (auto v = r.number(e, 0.0, 1.0)) retry.jitter = *v;
    } else if (e.key == "on") {
      if (!e.value.IsSequence()) {
        r.error(e.value_loc,
                "on: expected a list of failure, timeout; got " + Reader::describe(e.value));
        continue;
      }
      bool on_failure = false, on_timeout = false, ok = true;
      for (const YAML::Node& item : e.value) {
        const Entry one{"on", e.key_node, item, e.key_loc,
                        item.IsNull() ? e.value_loc : r.loc(item)};
        auto which = r.choice(one, kRetryOnNames);
        if (!which)
          ok = false;
        else if (*which == 0)
          on_failure = true;
        else
          on_timeout = true;
      }
      if (ok) {
        retry.on_failure = on_failure;
        retry.on_timeout = on_timeout;
      }
    }
  }
}

void read_catch_up(const Reader& r, const Entry& entry, CatchUp& catch_up) {
  auto entries = r.entries(entry.value, entry.value_loc, entry.key);
  r.keep_known(entries, kCatchUpKeys);
  for (const Entry& e : entries) {
    if (e.key == "policy") {
      if (auto v = r.choice(e, kCatchUpNames)) catch_up.policy = static_cast<CatchUpPolicy>(*v);
    } else if (e.key == "max_age") {
      if (auto v = r.duration(e)) catch_up.max_age = *v;
    }
  }
}

void read_env(const Reader& r, const Entry& entry, std::map<std::string, std::string>& env) {
  for (const Entry& e : r.entries(entry.value, entry.value_loc, entry.key)) {
    const bool name_ok = !e.key.empty() && !(e.key[0] >= '0' && e.key[0] <= '9') &&
                         std::all_of(e.key.begin(), e.key.end(), [](char c) {
                           return c == '_' || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
                                  (c >= 'a' && c <= 'z');
                         });
    if (!name_ok) {
      r.error(e.key_loc, "env: invalid variable name '" + e.key +
                             "' (letters, digits and '_', not starting with a digit)");
      continue;
    }
    if (e.key.starts_with("KAIROS_")) {
      r.error(e.key_loc, "env: '" + e.key + "' is reserved: kairos sets KAIROS_* variables");
      continue;
    }
    if (auto value = r.string(e)) env.insert_or_assign(e.key, *value);
  }
}

// Reads one of the keys that jobs and `defaults:` share; false when `e` is not one of them.
bool read_shared_key(const Reader& r, const Entry& e, JobSpec& spec, const JobContext& ctx) {
  if (e.key == "working_dir") {
    auto dir = r.nonempty_string(e);
    if (dir && !dir->starts_with('/')) {
      r.error(e.value_loc, "working_dir: must be an absolute path, got '" + *dir + "'");
    } else if (dir) {
      spec.working_dir = *dir;
    }
  } else if (e.key == "env") {
    read_env(r, e, spec.env);
  } else if (e.key == "timeout") {
    if (auto v = r.duration(e)) spec.timeout = *v;
  } else if (e.key == "kill_grace") {
    if (auto v = r.duration(e)) spec.kill_grace = *v;
  } else if (e.key == "output_limit") {
    if (auto v = r.size(e)) spec.output_limit = *v;
  } else if (e.key == "retry") {
    read_retry(r, e, spec.retry);
  } else if (e.key == "concurrency") {
    if (auto v = r.choice(e, kOverlapNames)) spec.concurrency = static_cast<Overlap>(*v);
  } else if (e.key == "max_instances") {
    if (auto v = r.integer(e, 1, 100000)) spec.max_instances = static_cast<int>(*v);
  } else if (e.key == "catch_up") {
    read_catch_up(r, e, spec.catch_up);
  } else if (e.key == "pool") {
    auto pool = r.nonempty_string(e);
    if (pool && ctx.pools && !ctx.pools->contains(*pool)) {
      std::vector<std::string_view> names;
      for (const auto& [name, slots] : *ctx.pools) names.push_back(name);
      r.error(e.value_loc, "pool: unknown pool '" + *pool + "'" +
                               (names.empty() ? std::string(" (no pools are defined under pools:)")
                                              : did_you_mean(*pool, names)));
    } else if (pool) {
      spec.pool = *pool;
    }
  } else if (e.key == "user" || e.key == "group") {
    auto name = r.nonempty_string(e);
    if (!name) return true;
    // Switching identity needs CAP_SETUID/CAP_SETGID; without it every run would fail at
    // spawn time, so say it now, once, where it is written.
    if (!ctx.running_as_root) {
      r.error(e.value_loc, e.key + ": requires kairosd to run as root");
    } else if (e.key == "user" ? !user_exists(*name) : !group_exists(*name)) {
      r.error(e.value_loc, e.key + ": unknown " + e.key + " '" + *name + "'");
    } else {
      (e.key == "user" ? spec.user : spec.group) = *name;
    }
  } else {
    return false;
  }
  return true;
}

std::optional<Schedule> read_schedule(const Reader& r, const Entry& entry,
                                      const JobDefaults& defaults) {
  if (!entry.value.IsMap()) {
    r.error(entry.value_loc, "schedule: expected a map with one of after, at, every, cron; got " +
                                 Reader::describe(entry.value));
    return std::nullopt;
  }
  Guard guard{r};
  auto entries = r.entries(entry.value, entry.value_loc, entry.key);
  r.keep_known(entries, kScheduleKeys);
  Schedule s;
  const Entry* kind = nullptr;
  const Entry* jitter = nullptr;
  const Entry* zone = nullptr;
  for (const Entry& e : entries) {
    if (e.key == "jitter") {
      jitter = &e;
      continue;
    }
    if (e.key == "timezone") {
      zone = &e;
      continue;
    }
    if (kind) {
      r.error(e.key_loc, "schedule: '" + kind->key + "' and '" + e.key +
                             "' cannot be combined; use exactly one of after, at, every, cron");
      continue;
    }
    kind = &e;
    if (e.key == "after") {
      s.kind = ScheduleKind::after;
      if (auto v = r.duration(e)) s.after = *v;
    } else if (e.key == "at") {
      s.kind = ScheduleKind::at;
      std::string why;
      auto text = r.string(e);
      if (!text) continue;
      if (auto t = schedule::parse_rfc3339(*text, &why)) {
        s.at = *t;
      } else {
        r.error(e.value_loc, "at: " + why);
      }
    } else if (e.key == "every") {
      s.kind = ScheduleKind::every;
      if (auto v = r.duration(e)) {
        if (*v < kMinEvery) {
          r.error(e.value_loc, "every: must be at least " + format_duration(kMinEvery));
        }
        s.every = *v;
      }
    } else {
      s.kind = ScheduleKind::cron;
      auto text = r.nonempty_string(e);
      if (!text) continue;
      if (auto problem = check_cron(*text)) {
        SourceLoc at = r.text_loc(e.value);
        at.column += problem->column - 1;
        r.error(at, "cron: " + problem->message);
      }
      s.cron = *text;
    }
  }
  if (!kind) {
    r.error(entry.key_loc, "schedule: needs one of after, at, every, cron");
    return std::nullopt;
  }
  if (jitter && kind->key != "every") {
    r.error(jitter->key_loc, "jitter: only allowed with every");
  } else if (jitter) {
    if (auto v = r.duration(*jitter)) {
      if (*v >= s.every && s.every.count() > 0) {
        r.error(jitter->value_loc,
                "jitter: must be shorter than every (" + format_duration(s.every) + ")");
      }
      s.jitter = *v;
    }
  }
  if (zone && kind->key != "cron") {
    r.error(zone->key_loc, "timezone: only allowed with cron");
  } else if (kind->key == "cron") {
    s.timezone = defaults.timezone;
    if (zone) {
      if (auto z = read_zone(r, *zone)) s.timezone = *z;
    }
  }
  if (!guard.clean()) return std::nullopt;
  return s;
}

}  // namespace

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  auto alnum = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  };
  if (!alnum(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return alnum(c) || c == '_' || c == '.' || c == '-'; });
}

JobDefaults read_defaults(const Reader& r, const Entry& defaults, const JobContext& ctx) {
  JobDefaults out;
  auto entries = r.entries(defaults.value, defaults.value_loc, defaults.key);
  r.keep_known(entries, kDefaultsKeys);
  for (const Entry& e : entries) {
    if (e.key == "timezone") {
      if (auto zone = read_zone(r, e)) out.timezone = *zone;
    } else {
      read_shared_key(r, e, out.base, ctx);
    }
  }
  return out;
}

std::optional<JobSpec> read_job(const Reader& r, const Entry& entry, const JobDefaults& defaults,
                                const JobContext& ctx) {
  Guard guard{r};
  JobSpec spec = defaults.base;
  spec.name = entry.key;
  spec.loc = entry.key_loc;
  if (!entry.value.IsMap()) {
    r.error(entry.value_loc,
            "job '" + entry.key + "': expected a map, got " + Reader::describe(entry.value));
    return std::nullopt;
  }
  auto all = r.entries(entry.value, entry.value_loc, "job '" + entry.key + "'");
  // Schedule keys written directly on the job are a common slip; say where they go.
  std::vector<Entry> entries;
  for (const Entry& e : all) {
    const bool schedule_key = e.key == "after" || e.key == "at" || e.key == "every" ||
                              e.key == "cron" || e.key == "timezone" || e.key == "jitter";
    if (schedule_key) {
      r.error(e.key_loc,
              "'" + e.key + "' belongs inside schedule:, as in schedule: {" + e.key + ": ...}");
    } else {
      entries.push_back(e);
    }
  }
  r.keep_known(entries, kJobKeys);
  const Entry* program = nullptr;
  const Entry* max_instances = nullptr;
  bool has_schedule = false;
  for (const Entry& e : entries) {
    if (e.key == "command" || e.key == "shell") {
      if (program) {
        r.error(e.key_loc, "'command' and 'shell' cannot be combined: use one of them");
        continue;
      }
      program = &e;
      if (e.key == "command") {
        auto argv = r.string_list(e, /*nonempty=*/true);
        if (argv && argv->front().empty()) {
          r.error(e.value_loc, "command: the program (first item) must not be empty");
        } else if (argv) {
          spec.argv = std::move(*argv);
        }
      } else if (auto script = r.nonempty_string(e)) {
        spec.argv = {"/bin/sh", "-c", *script};
        spec.is_shell = true;
      }
    } else if (e.key == "schedule") {
      has_schedule = true;
      if (auto s = read_schedule(r, e, defaults)) spec.schedule = *s;
    } else if (e.key == "description") {
      if (auto v = r.string(e)) spec.description = *v;
    } else if (e.key == "enabled") {
      if (auto v = r.boolean(e)) spec.enabled = *v;
    } else {
      if (e.key == "max_instances") max_instances = &e;
      read_shared_key(r, e, spec, ctx);
    }
  }
  if (!program) r.error(entry.key_loc, "job '" + entry.key + "': missing 'command' or 'shell'");
  if (!has_schedule) r.error(entry.key_loc, "job '" + entry.key + "': missing 'schedule'");
  if (max_instances && spec.concurrency != Overlap::allow) {
    r.error(max_instances->key_loc, "max_instances: only meaningful with concurrency: allow");
  }
  if (!guard.clean()) return std::nullopt;
  return spec;
}

}  // namespace kairos::config

// The commands that work without a daemon: validate and next EXPR.
#include <unistd.h>

#include <iostream>
#include <iterator>

#include "cli/commands.h"
#include "config/loader.h"
#include "protocol/messages.h"
#include "schedule/cron.h"

namespace kairos::cli {

using nlohmann::json;

int cmd_validate(const Context& ctx, const std::string& file) {
  config::LoadOptions opts;
  // Validate as the daemon would load it: `user:` is only allowed when running as root,
  // and kairosd normally does; so judge the file as root would unless we are not.
  opts.running_as_root = ::geteuid() == 0;
  config::LoadResult res;
  std::string shown = file;
  if (file == "-") {
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    shown = "<stdin>";
    res = config::load_string(text, shown, opts);
  } else {
    res = config::load_file(file, opts);
  }
  if (ctx.json) {
    json errors = json::array();
    for (const auto& d : res.errors)
      errors.push_back({{"file", d.loc.file.str()},
                        {"line", d.loc.line},
                        {"column", d.loc.column},
                        {"message", d.message},
                        {"text", d.str()}});
    json out = {{"file", shown}, {"ok", res.ok()}, {"errors", errors}};
    out["jobs"] = res.config ? res.config->jobs.size() : 0;
    std::cout << protocol::dump_line(out) << "\n";
    return res.ok() ? kOk : kFailed;
  }
  if (!res.ok()) {
    // The diagnostics are what the user asked for, so they go to stdout, one per line
    // in the compiler format editors understand.
    for (const auto& d : res.errors) std::cout << d.str() << "\n";
    std::cerr << "kairosctl: " << shown << ": " << res.errors.size()
              << (res.errors.size() == 1 ? " error" : " errors") << "\n";
    return kFailed;
  }
  std::size_t n = res.config ? res.config->jobs.size() : 0;
  std::cout << shown << ": OK, " << n << (n == 1 ? " job" : " jobs") << "\n";
  return kOk;
}

int cmd_next_expr(const Context& ctx, const std::string& expr, const std::string& tz,
                  const std::string& after, int count) {
  auto parsed = schedule::parse_cron(expr);
  if (auto* e = std::get_if<schedule::CronError>(&parsed))
    return fail(ctx, kUsage, "invalid cron expression '" + expr + "': " + e->message, "usage");
  const auto& spec = std::get<schedule::CronSpec>(parsed);

  const date::time_zone* zone = &local_zone();
  if (!tz.empty()) {
    try {
      zone = date::locate_zone(tz);
    } catch (const std::exception&) {
      return fail(ctx, kUsage,
                  "unknown time zone '" + tz + "' (use an IANA name like Europe/Berlin)", "usage");
    }
  }
  std::chrono::sys_seconds from;
  if (after.empty()) {
    from = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  } else {
    std::string err;
    auto t = schedule::parse_rfc3339(after, &err);
    if (!t) return fail(ctx, kUsage, "--after: " + err, "usage");
    from = std::chrono::floor<std::chrono::seconds>(*t);
  }
  std::vector<std::string> lines;
  auto t = from;
  for (int i = 0; i < count; ++i) {
    auto next = schedule::next_fire(spec, t, *zone);
    if (!next) break;  // never fires again
    lines.push_back(schedule::format_rfc3339(*next, *zone));
    t = *next;
  }
  if (ctx.json) {
    std::cout << protocol::dump_line(json{{"expression", expr},
                                          {"timezone", zone->name()},
                                          {"after", schedule::format_rfc3339(from, *zone)},
                                          {"fires", lines}})
              << "\n";
    return kOk;
  }
  for (const auto& l : lines) std::cout << l << "\n";
  return kOk;
}

}  // namespace kairos::cli

// kairosd: the kairos job scheduler daemon. Runs in the foreground, logs to stderr.
#include <cstdlib>
#include <cstring>
#include <string>

#include <CLI/CLI.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "async/process.h"
#include "daemon/service.h"

namespace {

/// `%*`: the sd-daemon(3) priority prefix ("<3>" for errors…), which journald reads from
/// stderr (SyslogLevelPrefix=), so `journalctl -p warning` finds kairosd's warnings.
class SyslogPrefix : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    static constexpr const char* kPrefix[] = {"<7>", "<7>", "<6>", "<4>", "<3>", "<2>", "<6>"};
    const char* p = kPrefix[static_cast<int>(msg.level)];
    dest.append(p, p + 3);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<SyslogPrefix>();
  }
};

}  // namespace

int main(int argc, char** argv) {
  // Before any thread exists, so every thread inherits it (see async/process.h).
  kairos::async::block_sigchld();
  CLI::App app{"kairosd - job scheduler daemon (foreground; logs to stderr)"};
  std::string config = "/etc/kairos/kairos.yaml";
  std::string state_dir;
  std::string log_level = "info";
  app.add_option("-c,--config", config, "configuration file")->capture_default_str();
  app.add_option("--state-dir", state_dir,
                 "keep the database and socket in DIR (overrides the defaults, not values set "
                 "in the file)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str();
  app.set_version_flag("--version", "kairosd 0.1.0");
  app.footer("Example:\n  kairosd --config etc/kairos.yaml --state-dir ./state");
  CLI11_PARSE(app, argc, argv);

  auto logger = spdlog::stderr_color_mt("kairosd");
  spdlog::set_default_logger(logger);
  // Under systemd the journal adds its own timestamp and reads the priority prefix; keep
  // the line short and greppable.
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<SyslogPrefix>('*');
  formatter->set_pattern(std::getenv("INVOCATION_ID") ? "%*%l %v"
                                                      : "%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_formatter(std::move(formatter));
  spdlog::set_level(spdlog::level::from_str(log_level));

  // Bench only (bench/load): KAIROS_BENCH_BALLAST_MIB=N allocates and touches N MiB at start,
  // so the spawn path can be measured with a large resident set (fork() slows down with RSS;
  // posix_spawn's vfork must not). Never set it in production.
  if (const char* mib = std::getenv("KAIROS_BENCH_BALLAST_MIB")) {
    std::size_t bytes = std::strtoull(mib, nullptr, 10) << 20;
    static char* ballast = static_cast<char*>(std::malloc(bytes));
    if (ballast) std::memset(ballast, 1, bytes);
    spdlog::warn("bench: {} MiB of ballast allocated (KAIROS_BENCH_BALLAST_MIB)", bytes >> 20);
  }

  kairos::daemon::ServiceOptions o;
  o.config_path = config;
  if (!state_dir.empty()) o.state_dir = state_dir;
  kairos::daemon::Service service(std::move(o));
  return service.run();
}

// kairosd: the kairos job scheduler daemon. Runs in the foreground, logs to stderr.
#include <getopt.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "async/process.h"
#include "daemon/app.h"
#include "kairos/version.h"

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

constexpr const char* kUsage =
    "Usage: kairosd [OPTIONS]\n"
    "kairosd - job scheduler daemon (foreground; logs to stderr)\n"
    "\n"
    "  -c, --config FILE     configuration file (default /etc/kairos/kairos.yaml)\n"
    "      --state-dir DIR   keep the database and socket in DIR (overrides the defaults,\n"
    "                        not values set in the file)\n"
    "      --log-level LEVEL trace, debug, info (default), warn, error, critical, off\n"
    "      --version         print the version and exit\n"
    "  -h, --help            print this help and exit\n"
    "\n"
    "Example:\n"
    "  kairosd --config etc/kairos.yaml --state-dir ./state\n";

/// Exit status for a usage error, as kairosctl's (docs/cli.md).
constexpr int kUsageError = 2;

int usage_error(const char* what) {
  std::fprintf(stderr, "kairosd: %s\nTry 'kairosd --help' for more information.\n", what);
  return kUsageError;
}

}  // namespace

int main(int argc, char** argv) {
  // Before any thread exists, so every thread inherits it (see async/process.h).
  kairos::async::block_sigchld();
  // Four flags: getopt_long, not CLI11, whose parser would stay resident for the daemon's
  // life (docs/PERFORMANCE.md, "RSS at rest"); kairosctl, with its subcommands, keeps CLI11.
  std::string config = "/etc/kairos/kairos.yaml";
  std::string state_dir;
  std::string log_level = "info";
  enum { kStateDir = 256, kLogLevel, kVersion };
  static const option kOptions[] = {{"config", required_argument, nullptr, 'c'},
                                    {"state-dir", required_argument, nullptr, kStateDir},
                                    {"log-level", required_argument, nullptr, kLogLevel},
                                    {"version", no_argument, nullptr, kVersion},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};
  ::opterr = 0;  // our own message, in one style
  for (int c; (c = ::getopt_long(argc, argv, ":c:h", kOptions, nullptr)) != -1;) {
    switch (c) {
      case 'c': config = ::optarg; break;
      case kStateDir: state_dir = ::optarg; break;
      case kLogLevel: log_level = ::optarg; break;
      case kVersion: std::printf("kairosd %s\n", kairos::kVersion); return 0;
      case 'h': std::fputs(kUsage, stdout); return 0;
      case ':': return usage_error((std::string(argv[::optind - 1]) + " needs a value").c_str());
      default: return usage_error((std::string("unknown option ") + argv[::optind - 1]).c_str());
    }
  }
  if (::optind < argc)
    return usage_error((std::string("unexpected argument ") + argv[::optind]).c_str());
  // spdlog reads an unknown name as "off": a typo must not silence the daemon.
  auto level = spdlog::level::from_str(log_level);
  if (level == spdlog::level::off && log_level != "off")
    return usage_error(("--log-level " + log_level +
                        ": expected trace, debug, info, warn, error, critical or off")
                           .c_str());

  auto logger = spdlog::stderr_color_mt("kairosd");
  spdlog::set_default_logger(logger);
  // Under systemd the journal adds its own timestamp and reads the priority prefix; keep
  // the line short and greppable.
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<SyslogPrefix>('*');
  formatter->set_pattern(std::getenv("INVOCATION_ID") ? "%*%l %v"
                                                      : "%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_formatter(std::move(formatter));
  spdlog::set_level(level);

  kairos::daemon::Options o;
  o.config_path = config;
  if (!state_dir.empty()) o.state_dir = state_dir;
  return kairos::daemon::run(o);
}

// kairosd_bench: the shipped daemon (kairos_daemon, daemon::run) with two bench-only hooks,
// read from the environment once; the shipped kairosd has neither. bench/load/kairos_load.py
// starts this binary for every kairos scenario.
//
//   KAIROS_BENCH_SPAWN_TRACE=FILE  one line per spawn, "run attempt scheduled_at_ms
//                                  spawn_begin_ns spawn_end_ns" (CLOCK_REALTIME), buffered,
//                                  written at exit. scheduled_at_ms is -1: the job's
//                                  environment carries it only to the second, so the driver
//                                  reads it from the history (runs.scheduled_at).
//   KAIROS_BENCH_BALLAST_MIB=N     allocate and touch N MiB at start (large-RSS spawns).
#include <getopt.h>
#include <time.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "async/launcher.h"
#include "async/process.h"
#include "daemon/app.h"

namespace {

std::int64_t realtime_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

/// The value of NAME in a "NAME=value" environment, or "" when absent.
std::string_view env_value(const std::vector<std::string>& env, std::string_view name) {
  for (const auto& kv : env)
    if (kv.size() > name.size() && kv[name.size()] == '=' && kv.compare(0, name.size(), name) == 0)
      return std::string_view(kv).substr(name.size() + 1);
  return {};
}

/// Times each spawn call of the real launcher; the lines go to a 1 MiB stdio buffer so
/// the trace adds no write() to the loop while it measures.
class TracingLauncher final : public kairos::async::Launcher {
 public:
  TracingLauncher(std::unique_ptr<kairos::async::Launcher> inner, std::FILE* out)
      : inner_(std::move(inner)), out_(out) {}
  ~TracingLauncher() override { std::fclose(out_); }

  std::unique_ptr<kairos::async::Child> spawn(const kairos::async::SpawnOptions& options,
                                              std::string* error) override {
    std::int64_t begin = realtime_ns();
    auto child = inner_->spawn(options, error);
    std::int64_t end = realtime_ns();
    if (child) {
      auto run = env_value(options.env, "KAIROS_RUN_ID");
      auto attempt = env_value(options.env, "KAIROS_ATTEMPT");
      std::fprintf(out_, "%.*s %.*s -1 %lld %lld\n", static_cast<int>(run.size()), run.data(),
                   static_cast<int>(attempt.size()), attempt.data(),
                   static_cast<long long>(begin), static_cast<long long>(end));
    }
    return child;
  }

 private:
  std::unique_ptr<kairos::async::Launcher> inner_;
  std::FILE* out_;
};

constexpr const char* kUsage =
    "Usage: kairosd_bench --config FILE [--state-dir DIR] [--log-level LEVEL]\n"
    "kairosd with bench-only hooks (KAIROS_BENCH_SPAWN_TRACE, KAIROS_BENCH_BALLAST_MIB);\n"
    "see bench/load/README.md. Never install it.\n";

int usage_error(const std::string& what) {
  std::fprintf(stderr, "kairosd_bench: %s\n%s", what.c_str(), kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Before any thread exists, as in kairosd (see async/process.h).
  kairos::async::block_sigchld();
  std::string config, state_dir, log_level = "info";
  enum { kStateDir = 256, kLogLevel };
  static const option kOptions[] = {{"config", required_argument, nullptr, 'c'},
                                    {"state-dir", required_argument, nullptr, kStateDir},
                                    {"log-level", required_argument, nullptr, kLogLevel},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};
  ::opterr = 0;
  for (int c; (c = ::getopt_long(argc, argv, ":c:h", kOptions, nullptr)) != -1;) {
    switch (c) {
      case 'c': config = ::optarg; break;
      case kStateDir: state_dir = ::optarg; break;
      case kLogLevel: log_level = ::optarg; break;
      case 'h': std::fputs(kUsage, stdout); return 0;
      default: return usage_error(std::string("bad option ") + argv[::optind - 1]);
    }
  }
  if (::optind < argc || config.empty()) return usage_error("--config FILE is required");
  auto level = spdlog::level::from_str(log_level);
  if (level == spdlog::level::off && log_level != "off")
    return usage_error("unknown --log-level " + log_level);

  // The logger as kairosd's outside systemd: per-run log lines cost the same.
  spdlog::set_default_logger(spdlog::stderr_color_mt("kairosd"));
  spdlog::set_formatter(
      std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v"));
  spdlog::set_level(level);

  if (const char* mib = std::getenv("KAIROS_BENCH_BALLAST_MIB")) {
    std::size_t bytes = std::strtoull(mib, nullptr, 10) << 20;
    static char* ballast = static_cast<char*>(std::malloc(bytes));
    if (ballast) std::memset(ballast, 1, bytes);
    spdlog::warn("bench: {} MiB of ballast allocated (KAIROS_BENCH_BALLAST_MIB)", bytes >> 20);
  }

  kairos::daemon::Options o;
  o.config_path = config;
  if (!state_dir.empty()) o.state_dir = state_dir;
  if (const char* path = std::getenv("KAIROS_BENCH_SPAWN_TRACE")) {
    std::FILE* out = std::fopen(path, "we");
    if (!out) {
      spdlog::critical("KAIROS_BENCH_SPAWN_TRACE {}: {}", path, std::strerror(errno));
      return 1;
    }
    std::setvbuf(out, nullptr, _IOFBF, 1 << 20);
    o.wrap_launcher = [out](std::unique_ptr<kairos::async::Launcher> inner) {
      return std::make_unique<TracingLauncher>(std::move(inner), out);
    };
  }
  return kairos::daemon::run(o);
}

// Config load cost: parse + validate a 10,000-job document (the daemon does this at start-up
// and on every reload), and a 10-job one for scale.
#include <benchmark/benchmark.h>

#include <string>

#include "config/loader.h"

namespace {

// A realistic mix: cron with zones, intervals, retries, env, shell and argv commands.
std::string make_config(int jobs) {
  std::string y = "version: 1\ndefaults: {timezone: UTC, timeout: 1h}\njobs:\n";
  const char* const crons[] = {"*/5 * * * *", "30 2 * * *", "0 9 * * MON-FRI", "@daily",
                               "0 0 L * *"};
  const char* const zones[] = {"UTC", "Europe/Berlin", "America/New_York"};
  for (int i = 0; i < jobs; ++i) {
    std::string n = std::to_string(i);
    y += "  job-" + n + ":\n";
    switch (i % 4) {
      case 0:
        y += "    command: [/usr/bin/true, --n, \"" + n + "\"]\n";
        y += "    schedule: {every: " + std::to_string(1 + i % 300) + "s}\n";
        break;
      case 1:
        y += "    shell: \"echo job " + n + " | tee -a /tmp/x\"\n";
        y += std::string("    schedule: {cron: \"") + crons[i % 5] + "\", timezone: " +
             zones[i % 3] + "}\n";
        break;
      case 2:
        y += "    command: [/bin/sh, -c, \"exit 0\"]\n";
        y += std::string("    schedule: {cron: \"") + crons[(i / 4) % 5] + "\"}\n";
        y += "    retry: {attempts: 3, backoff: 10s, factor: 2, jitter: 0.1}\n";
        y += "    concurrency: queue\n";
        break;
      default:
        y += "    command: [/usr/bin/env]\n";
        y += "    schedule: {every: 1h, jitter: 30s}\n";
        y += "    env: {A: \"1\", B: \"two\"}\n    timeout: 5m\n";
        break;
    }
  }
  return y;
}

void BM_LoadConfig(benchmark::State& state) {
  const int jobs = static_cast<int>(state.range(0));
  const std::string text = make_config(jobs);
  for (auto _ : state) {
    auto r = kairos::config::load_string(text, "bench.yaml");
    if (!r.ok()) {
      state.SkipWithError(r.errors.front().str().c_str());
      break;
    }
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations() * jobs);  // items = jobs
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
}
BENCHMARK(BM_LoadConfig)->Arg(10)->Arg(10'000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

// next_fire() throughput over a realistic mix of expressions and zones. The headline figure is
// BM_NextFireMix's items_per_second: next() evaluations per second on one core.
#include <benchmark/benchmark.h>

#include <vector>

#include "schedule/cron.h"

namespace {

using namespace kairos::schedule;

const char* const kExpressions[] = {
    "*/5 * * * *", "0 * * * *",       "30 2 * * *",  "0 9 * * MON-FRI", "@daily",
    "0 0 1 * *",   "15,45 */2 * * *", "0 0 L * *",   "0 12 * * 5L",     "0 8 1W * *",
    "0 0 * * 1#2", "*/10 * * * * *",  "0 0 13 * 5",  "0 3 * * 0",       "@hourly",
    "0 0 29 2 *",  "0 22 * * 1-5",    "0 0 */2 * 1", "5 4 * * SUN",     "0 0,12 1 */3 *",
};
const char* const kZones[] = {"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata",
                              "Australia/Lord_Howe"};

struct Job {
  CronSpec spec;
  const date::time_zone* tz;
};

std::vector<Job> make_jobs() {
  std::vector<Job> jobs;
  for (const char* zone : kZones) {
    for (const char* expr : kExpressions) {
      jobs.push_back({std::get<CronSpec>(parse_cron(expr)), date::locate_zone(zone)});
    }
  }
  return jobs;
}

// Each iteration asks every job for its next firing after an instant that moves through 2026,
// so DST transitions and month ends are crossed.
void BM_NextFireMix(benchmark::State& state) {
  const std::vector<Job> jobs = make_jobs();
  std::chrono::sys_seconds t{std::chrono::seconds{1'767'225'600}};  // 2026-01-01
  std::size_t evaluations = 0;
  for (auto _ : state) {
    for (const Job& job : jobs) {
      benchmark::DoNotOptimize(next_fire(job.spec, t, *job.tz));
    }
    evaluations += jobs.size();
    t += std::chrono::seconds{7919};
    if (t.time_since_epoch().count() > 1'798'761'600) t -= std::chrono::days{365};
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(evaluations));
}
BENCHMARK(BM_NextFireMix);

// A job stepping through its own firings, as the daemon does.
void BM_NextFireChain(benchmark::State& state, const char* expr, const char* zone) {
  const CronSpec spec = std::get<CronSpec>(parse_cron(expr));
  const date::time_zone* tz = date::locate_zone(zone);
  const std::chrono::sys_seconds start{std::chrono::seconds{1'767'225'600}};
  auto t = start;
  for (auto _ : state) {
    auto next = next_fire(spec, t, *tz);
    t = next && next->time_since_epoch().count() < 1'893'456'000 ? *next : start;
    benchmark::DoNotOptimize(t);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_NextFireChain, every_5_min_berlin, "*/5 * * * *", "Europe/Berlin");
BENCHMARK_CAPTURE(BM_NextFireChain, daily_0230_berlin, "30 2 * * *", "Europe/Berlin");
BENCHMARK_CAPTURE(BM_NextFireChain, last_friday_new_york, "0 12 * * 5L", "America/New_York");
BENCHMARK_CAPTURE(BM_NextFireChain, leap_day_utc, "0 0 29 2 *", "UTC");

void BM_Parse(benchmark::State& state) {
  for (auto _ : state) {
    for (const char* expr : kExpressions) benchmark::DoNotOptimize(parse_cron(expr));
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(std::size(kExpressions)));
}
BENCHMARK(BM_Parse);

}  // namespace

BENCHMARK_MAIN();

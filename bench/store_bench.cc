// History store benchmarks: write cost per run, and reads on a 1,000,000-run database.
//
//   store_bench [--benchmark_filter=...]
//
// Everything lives in a fresh temp dir (TMPDIR or /tmp), removed at exit. The 1M-run
// database is built once, before the first benchmark that needs it; its build time and the
// one-shot costs of recover_interrupted and prune on it are printed to stderr.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>

#include "store/store.h"

namespace fs = std::filesystem;
using kairos::store::AttemptRow;
using kairos::store::HistoryFilter;
using kairos::store::Millis;
using kairos::store::RunRow;
using kairos::store::RunStatus;
using kairos::store::Trigger;
using kairos::store::Store;

namespace {

constexpr Millis kT0 = 1'790'000'000'000;
constexpr int kJobs = 100;
constexpr int kBigRuns = 1'000'000;

fs::path g_dir;

std::unique_ptr<Store> open_store(const std::string& name) {
  std::string err;
  auto s = Store::open((g_dir / name).string(), &err);
  if (!s) {
    std::fprintf(stderr, "open: %s\n", err.c_str());
    std::abort();
  }
  return s;
}

RunRow make_run(int i) {
  RunRow r;
  r.job = "job-" + std::to_string(i % kJobs);
  r.trigger = Trigger::schedule;
  r.status = RunStatus::running;
  r.scheduled_at = kT0 + i * 1000LL;
  r.started_at = *r.scheduled_at + 3;
  return r;
}

void finish(Store& s, std::int64_t id, int i) {
  RunRow done;
  done.id = id;
  done.status = i % 10 == 0 ? RunStatus::failed : RunStatus::succeeded;
  done.finished_at = kT0 + i * 1000LL + 500;
  done.attempts = 1;
  done.exit_code = i % 10 == 0 ? 1 : 0;
  s.finish_run(done);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Process CPU time (user + system), to tell our cost from waiting for a shared machine.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// --- writes -------------------------------------------------------------------------------

void BM_InsertFinishOneTransactionPerRun(benchmark::State& state) {
  auto s = open_store("writes-1.db");
  int i = 0;
  for (auto _ : state) {
    Store::Transaction tx(*s);
    finish(*s, s->insert_run(make_run(i)), i);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_InsertFinishOneTransactionPerRun)->Unit(benchmark::kMicrosecond);

void BM_InsertFinishBatchesOf100(benchmark::State& state) {
  auto s = open_store("writes-100.db");
  int i = 0;
  for (auto _ : state) {
    Store::Transaction tx(*s);
    for (int k = 0; k < 100; ++k, ++i) finish(*s, s->insert_run(make_run(i)), i);
  }
  state.SetItemsProcessed(state.iterations() * 100);  // items = runs
}
BENCHMARK(BM_InsertFinishBatchesOf100)->Unit(benchmark::kMicrosecond);

// What the daemon really does per run: one commit when it starts (run + attempt rows),
// one when it ends (attempt with a 4 KiB output tail + run).
void BM_RealisticRunTwoCommits4KiBOutput(benchmark::State& state) {
  auto s = open_store("writes-real.db");
  const std::string output(4096, 'x');
  int i = 0;
  for (auto _ : state) {
    std::int64_t id = 0;
    AttemptRow a;
    {
      Store::Transaction tx(*s);
      id = s->insert_run(make_run(i));
      a.run_id = id;
      a.attempt = 1;
      a.status = RunStatus::running;
      a.started_at = kT0 + i;
      s->insert_attempt(a);
    }
    {
      Store::Transaction tx(*s);
      a.status = RunStatus::succeeded;
      a.finished_at = kT0 + i + 10;
      a.exit_code = 0;
      a.output = output;
      s->finish_attempt(a);
      finish(*s, id, i);
    }
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RealisticRunTwoCommits4KiBOutput)->Unit(benchmark::kMicrosecond);

// --- reads on 1M runs ---------------------------------------------------------------------

Store& big_store() {
  static std::unique_ptr<Store> s = [] {
    auto t0 = std::chrono::steady_clock::now();
    auto st = open_store("big.db");
    for (int i = 0; i < kBigRuns;) {
      Store::Transaction tx(*st);
      for (int k = 0; k < 10'000; ++k, ++i) finish(*st, st->insert_run(make_run(i)), i);
    }
    // A few still running, as after a crash.
    for (int k = 0; k < 10; ++k) st->insert_run(make_run(kBigRuns + k));
    std::fprintf(stderr, "setup: %d runs (%d jobs) inserted+finished in %.2f s, %.0f MiB\n",
                 kBigRuns, kJobs, seconds_since(t0),
                 static_cast<double>(fs::file_size(g_dir / "big.db")) / (1 << 20));
    return st;
  }();
  return *s;
}

void BM_Last100RunsOfAJob_1M(benchmark::State& state) {
  Store& s = big_store();
  HistoryFilter f;
  f.limit = 100;
  int j = 0;
  for (auto _ : state) {
    f.job = "job-" + std::to_string(j++ % kJobs);
    auto rows = s.history(f);
    if (rows.size() != 100) state.SkipWithError("expected 100 rows");
    benchmark::DoNotOptimize(rows);
  }
}
BENCHMARK(BM_Last100RunsOfAJob_1M)->Unit(benchmark::kMicrosecond);

void BM_Last100FailedSince_1M(benchmark::State& state) {
  Store& s = big_store();
  HistoryFilter f;
  f.status = RunStatus::failed;
  f.since = kT0 + (kBigRuns - 5000) * 1000LL;  // the newest ~500 failures qualify
  f.limit = 100;
  for (auto _ : state) {
    auto rows = s.history(f);
    if (rows.size() != 100) state.SkipWithError("expected 100 rows");
    benchmark::DoNotOptimize(rows);
  }
}
BENCHMARK(BM_Last100FailedSince_1M)->Unit(benchmark::kMicrosecond);

void BM_LastResultOfAJob_1M(benchmark::State& state) {
  Store& s = big_store();
  int j = 0;
  for (auto _ : state) {
    auto r = s.last_result("job-" + std::to_string(j++ % kJobs));
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_LastResultOfAJob_1M)->Unit(benchmark::kMicrosecond);

// One-shot maintenance costs on the big database (they change it, so they run last).
template <typename F>
void timed(const char* what, F&& f) {
  auto t0 = std::chrono::steady_clock::now();
  double c0 = cpu_seconds();
  long long n = f();
  std::fprintf(stderr, "%s: %lld runs, %.1f ms wall, %.1f ms cpu\n", what, n,
               seconds_since(t0) * 1e3, (cpu_seconds() - c0) * 1e3);
}

void maintenance_once() {
  Store& s = big_store();
  const Millis now = kT0 + kBigRuns * 1000LL;
  timed("recover_interrupted (10 active of 1M)", [&] { return s.recover_interrupted(kT0); });
  timed("last_scheduled of a 10k-run job", [&] { return *s.last_scheduled("job-7") > 0; });
  timed("prune(keep_per_job=1000, max_delete=10000)",
        [&] { return s.prune(1000, 0, now, 10'000); });
  timed("prune(keep_per_job=1000), the remaining backlog in one call",
        [&] { return s.prune(1000, 0, now); });
  timed("prune again, nothing to delete (100 jobs)", [&] { return s.prune(1000, 0, now); });
  timed("prune by age (keep_for = last 1000 s)", [&] { return s.prune(1000, 1'000'000, now); });
}

}  // namespace

int main(int argc, char** argv) {
  std::string tmpl = (fs::temp_directory_path() / "kairos-store-bench-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return 1;
  g_dir = tmpl;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  maintenance_once();
  benchmark::Shutdown();
  fs::remove_all(g_dir);
  return 0;
}

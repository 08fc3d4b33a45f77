// The daemon's core parts as app.cc builds them — a real libuv loop, a real RunLedger on a
// SQLite file of the test's own (a read and a write connection), Runner, Scheduler and
// AsyncScope — on a FakeClock and a FakeLauncher, so every decision that depends on time or
// on a process's exit is made when the test says, without waiting for anything.
//
// The parts can be torn down and built again on the same database with the clock moved on
// (restart()): a daemon that was stopped for that long.
#pragma once

#include <gtest/gtest.h>
#include <uv.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "async/loop.h"
#include "async/scope.h"
#include "async/task.h"
#include "config/job_spec.h"
#include "daemon/ledger.h"
#include "daemon/runner.h"
#include "daemon/scheduler.h"
#include "fake_clock.h"
#include "fake_launcher.h"
#include "store/store.h"

namespace kairos::store {
// Readable failures: statuses and triggers by name.
inline void PrintTo(RunStatus s, std::ostream* os) { *os << to_string(s); }
inline void PrintTo(Trigger t, std::ostream* os) { *os << to_string(t); }
}  // namespace kairos::store

namespace kairos::daemon {
inline void PrintTo(RunPhase p, std::ostream* os) { *os << to_string(p); }
}  // namespace kairos::daemon

namespace kairos::daemon::test {

using namespace std::chrono_literals;
using store::AttemptRow;
using store::RunRow;
// Inside a fixture, plain `Run` is ::testing::Test::Run.
using RunPtr = std::shared_ptr<daemon::Run>;

/// Unix milliseconds of an RFC 3339 instant ("2027-03-28T01:00:00Z").
Millis at(const char* rfc3339);
/// The scheduled instants of `rows`, in their order.
std::vector<Millis> scheduled(const std::vector<RunRow>& rows);
/// The statuses of `rows`, in their order.
std::vector<store::RunStatus> statuses(const std::vector<RunRow>& rows);

class CoreTest : public ::testing::Test {
 protected:
  /// Where every test's clock starts: 2027-01-04T00:00:00Z, a Monday.
  static constexpr Millis kStart = 1'799'020'800'000;

  void SetUp() override;
  void TearDown() override;

  // --- the parts' lives -------------------------------------------------------------------
  /// Builds the parts on the test's database, at the clock's current time (start-up's
  /// recovery included), with no jobs loaded.
  void start_parts();
  /// Shuts down as app.cc's graceful_stop does: stops firing, cancels and ends every run
  /// (children that ignore SIGTERM are killed), commits, closes every handle, and checks
  /// that no task is left suspended and that uv_loop_close() succeeds.
  void stop_parts();
  /// stop_parts(), `outage` passes (nothing runs), start_parts(). Load a config afterwards.
  void restart(std::chrono::milliseconds outage);
  /// As restart(), but the database is left as it was committed at this instant, as a kill -9
  /// would leave it: nothing of the shutdown reaches it.
  void crash_and_restart(std::chrono::milliseconds outage);

  // --- configuration ----------------------------------------------------------------------
  /// A validated Config from YAML (config::load_string); throws the diagnostics otherwise.
  config::Config parse(const std::string& yaml);
  /// parse() and Scheduler::apply(), then settle().
  ReloadDiff load(const std::string& yaml);

  // --- time -------------------------------------------------------------------------------
  /// Moves the fake clock forward, firing what falls due in order.
  void advance(std::chrono::milliseconds d) { clock().advance(d); }
  void advance_to(Millis t);
  /// Runs the loop until nothing is ready and every write is committed.
  void settle() { clock().advance(std::chrono::nanoseconds(0)); }
  Millis now() const { return p_->clock->now_ms(); }

  // --- what happened ----------------------------------------------------------------------
  /// The job's runs, oldest first, from the ledger's query API (the live view of active ones).
  std::vector<RunRow> runs(const std::string& job);
  std::vector<RunRow> runs(const std::string& job, store::RunStatus status);
  std::optional<RunRow> run_row(std::int64_t id);
  std::vector<AttemptRow> attempts(std::int64_t run_id);
  /// Runs a ledger query (or any task) to completion on the loop.
  template <typename T>
  T query(async::Task<T> task) {
    std::optional<T> out;
    p_->scope->spawn(capture(std::move(task), &out));
    settle();
    if (!out) throw std::runtime_error("query did not complete");
    return std::move(*out);
  }

  fakes::FakeClock& clock() { return *p_->clock; }
  fakes::FakeLauncher& launcher() { return launcher_; }
  RunLedger& ledger() { return *p_->ledger; }
  Scheduler& scheduler() { return *p_->scheduler; }
  Runner& runner() { return *p_->runner; }
  async::Loop& loop() { return *p_->loop; }
  store::Store& store() { return *p_->store; }
  const std::string& db_path() const { return db_; }

 private:
  template <typename T>
  static async::Task<void> capture(async::Task<T> task, std::optional<T>* out) {
    out->emplace(co_await task);
  }
  /// The FakeClock's settle step: the loop's ready queue and the history writer, until both
  /// are quiet.
  void drain();
  bool drain_pending();

  struct Parts {
    uv_loop_t uv{};
    std::unique_ptr<async::Loop> loop;
    std::unique_ptr<store::Store> store;
    std::unique_ptr<fakes::FakeClock> clock;
    std::unique_ptr<async::AsyncScope> scope;
    std::unique_ptr<RunLedger> ledger;
    std::unique_ptr<Runner> runner;
    std::unique_ptr<Scheduler> scheduler;
  };

  std::filesystem::path dir_;
  std::string db_;
  // Time carried from one life of the parts to the next.
  std::chrono::nanoseconds wall_{};
  std::chrono::nanoseconds mono_ = std::chrono::hours(1);
  // The operating system's processes: they outlive the daemon's parts.
  fakes::FakeLauncher launcher_;
  std::unique_ptr<Parts> p_;
};

}  // namespace kairos::daemon::test

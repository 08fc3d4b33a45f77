#include "core_fixture.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <spdlog/spdlog.h>

#include "config/loader.h"
#include "schedule/rfc3339.h"

namespace kairos::daemon::test {

namespace fs = std::filesystem;

Millis at(const char* text) {
  std::string err;
  auto t = schedule::parse_rfc3339(text, &err);
  if (!t) throw std::invalid_argument(err);
  return t->time_since_epoch().count();
}

namespace {
/// A real file, but in memory when it can be: each test commits a few dozen times, and
/// fdatasync on a virtual disk would be most of its run time. $TMPDIR wins.
fs::path scratch_dir() {
  if (!std::getenv("TMPDIR") && ::access("/dev/shm", W_OK | X_OK) == 0) return "/dev/shm";
  return fs::temp_directory_path();
}
}  // namespace

std::vector<Millis> scheduled(const std::vector<RunRow>& rows) {
  std::vector<Millis> out;
  for (const auto& r : rows) out.push_back(r.scheduled_at.value_or(-1));
  return out;
}

std::vector<store::RunStatus> statuses(const std::vector<RunRow>& rows) {
  std::vector<store::RunStatus> out;
  for (const auto& r : rows) out.push_back(r.status);
  return out;
}

void CoreTest::SetUp() {
  // Quiet unless asked: KAIROS_TEST_LOG=debug|info|warn.
  const char* level = std::getenv("KAIROS_TEST_LOG");
  spdlog::set_level(level ? spdlog::level::from_str(level) : spdlog::level::err);
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "." + info->name();
  for (char& c : name)
    if (c == '/') c = '_';
  dir_ = scratch_dir() / ("kairos-core-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(dir_);
  fs::create_directories(dir_);
  db_ = (dir_ / "history.db").string();
  wall_ = std::chrono::milliseconds(kStart);
  start_parts();
}

void CoreTest::TearDown() {
  stop_parts();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

void CoreTest::start_parts() {
  ASSERT_FALSE(p_) << "parts already started";
  p_ = std::make_unique<Parts>();
  ASSERT_EQ(uv_loop_init(&p_->uv), 0);
  p_->loop = std::make_unique<async::Loop>(&p_->uv);
  std::string err;
  p_->store = store::Store::open(db_, &err);
  ASSERT_TRUE(p_->store) << err;
  auto writer = store::Store::open(db_, &err);
  ASSERT_TRUE(writer) << err;
  p_->clock = std::make_unique<fakes::FakeClock>(
      *p_->loop, async::Clock::TimePoint(wall_), mono_);
  p_->clock->set_settle([this] { drain(); });
  // As app.cc's recover(): what a crash left active becomes `interrupted`.
  p_->store->recover_interrupted(p_->clock->now_ms());
  p_->scope = std::make_unique<async::AsyncScope>();
  p_->scope->set_error_handler(
      [](const std::string& e) { ADD_FAILURE() << "a detached task threw: " << e; });
  p_->ledger = std::make_unique<RunLedger>(*p_->loop, *p_->clock, *p_->store, std::move(writer),
                                           db_);
  p_->runner = std::make_unique<Runner>(*p_->clock, launcher_, *p_->ledger, *p_->scope, 32);
  p_->scheduler = std::make_unique<Scheduler>(*p_->clock, *p_->ledger, *p_->runner, *p_->scope);
}

void CoreTest::stop_parts() {
  if (!p_) return;
  auto& p = *p_;
  if (p.scheduler) {
    p.scheduler->stop_firing();
    p.ledger->cancel_all("test over");
    settle();
    launcher_.kill_all();  // children that ignore SIGTERM; their kill_grace is not waited
    settle();
    EXPECT_EQ(p.ledger->active_count(), 0u) << "runs still active at shutdown";
    bool ended = false;
    p.scope->spawn([](Scheduler& s, bool* done) -> async::Task<void> {
      co_await s.loops_ended();
      *done = true;
    }(*p.scheduler, &ended));
    settle();
    EXPECT_TRUE(ended) << "a firing loop did not end";
    p.ledger->close();
  }
  if (p.clock) {
    wall_ = p.clock->now().time_since_epoch();
    mono_ = p.clock->mono_now();
    p.clock->close();
  }
  p.loop->close();
  p.loop->drain();  // what the clock's close woke
  uv_run(&p.uv, UV_RUN_DEFAULT);
  if (p.scope) {
    EXPECT_EQ(p.scope->active(), 0u) << "tasks still suspended at shutdown";
  }
  p.scheduler.reset();
  p.runner.reset();
  p.ledger.reset();
  p.clock.reset();
  p.store.reset();
  p.loop->drain();
  uv_run(&p.uv, UV_RUN_DEFAULT);  // close callbacks of whatever the destructors closed
  int rc = uv_loop_close(&p.uv);
  if (rc != 0) {
    std::fprintf(stderr, "live handles:\n");
    uv_walk(
        &p.uv,
        [](uv_handle_t* h, void*) {
          std::fprintf(stderr, "  %s active=%d closing=%d ref=%d\n", uv_handle_type_name(h->type),
                       uv_is_active(h), uv_is_closing(h), uv_has_ref(h));
        },
        nullptr);
  }
  EXPECT_EQ(rc, 0) << "the loop still has handles at shutdown";
  p.loop.reset();
  p.scope.reset();
  p_.reset();
}

void CoreTest::restart(std::chrono::milliseconds outage) {
  stop_parts();
  wall_ += outage;
  mono_ += outage;
  start_parts();
}

void CoreTest::crash_and_restart(std::chrono::milliseconds outage) {
  settle();  // everything written so far is committed, and nothing is being written
  const std::string suffixes[] = {"", "-wal"};
  for (const auto& s : suffixes)
    if (fs::exists(db_ + s)) fs::copy_file(db_ + s, db_ + s + ".crash");
  stop_parts();
  for (const auto& s : {std::string("-wal"), std::string("-shm")}) fs::remove(db_ + s);
  for (const auto& s : suffixes)
    if (fs::exists(db_ + s + ".crash")) fs::rename(db_ + s + ".crash", db_ + s);
  wall_ += outage;
  mono_ += outage;
  start_parts();
}

config::Config CoreTest::parse(const std::string& yaml) {
  auto loaded = config::load_string(yaml, (dir_ / "kairos.yaml").string());
  std::string errors;
  for (const auto& d : loaded.errors) errors += d.str() + "\n";
  if (!loaded.ok()) throw std::invalid_argument("config errors:\n" + errors);
  return std::move(*loaded.config);
}

ReloadDiff CoreTest::load(const std::string& yaml) {
  auto d = scheduler().apply(parse(yaml));
  settle();
  return d;
}

void CoreTest::advance_to(Millis t) {
  ASSERT_GE(t, now()) << "advance_to a past instant";
  advance(std::chrono::milliseconds(t - now()));
}

std::vector<RunRow> CoreTest::runs(const std::string& job) {
  store::HistoryFilter f;
  f.job = job;
  f.limit = 1'000'000;
  auto rows = query(ledger().history(f));
  return {rows.rbegin(), rows.rend()};
}

std::vector<RunRow> CoreTest::runs(const std::string& job, store::RunStatus status) {
  std::vector<RunRow> out;
  for (auto& r : runs(job))
    if (r.status == status) out.push_back(std::move(r));
  return out;
}

std::optional<RunRow> CoreTest::run_row(std::int64_t id) { return query(ledger().run(id)); }

std::vector<AttemptRow> CoreTest::attempts(std::int64_t run_id) {
  auto logs = query(ledger().logs(run_id));
  return logs ? logs->attempts : std::vector<AttemptRow>{};
}

bool CoreTest::drain_pending() {
  // Loop::schedule() starts the loop's idle handle; a drain stops it.
  bool pending = false;
  uv_walk(
      &p_->uv,
      [](uv_handle_t* h, void* arg) {
        if (h->type == UV_IDLE && uv_is_active(h)) *static_cast<bool*>(arg) = true;
      },
      &pending);
  return pending;
}

void CoreTest::drain() {
  for (int i = 0; i < 100'000; ++i) {
    // Ready coroutines run; the writes they make are handed to the history writer at the
    // end of the drain; flush waits for their commit and wakes whoever waited for it.
    p_->loop->drain();
    uv_run(&p_->uv, UV_RUN_NOWAIT);
    if (p_->ledger) p_->ledger->flush_and_trim();
    if (!drain_pending()) return;
  }
  ADD_FAILURE() << "the loop never settled";
}

}  // namespace kairos::daemon::test

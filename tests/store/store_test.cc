// History store tests, on a real SQLite file in a fresh temp dir per test.
#include "store/store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <algorithm>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using kairos::store::AttemptRow;
using kairos::store::HistoryFilter;
using kairos::store::JobState;
using kairos::store::Millis;
using kairos::store::RunRow;
using kairos::store::RunStatus;
using kairos::store::Trigger;
using kairos::store::Store;

namespace {

constexpr Millis kT0 = 1'790'000'000'000;  // 2026-09-21, an arbitrary fixed instant

// A second, plain sqlite3 connection: what a user with the sqlite3 shell sees.
class Raw {
 public:
  explicit Raw(const std::string& path) {
    EXPECT_EQ(
        sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr),
        SQLITE_OK);
  }
  ~Raw() { sqlite3_close(db_); }
  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;

  // Every row of the result, columns joined with '|' (NULL prints as "NULL").
  std::vector<std::string> rows(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db_) << " in " << sql;
    std::vector<std::string> out;
    while (st != nullptr && sqlite3_step(st) == SQLITE_ROW) {
      std::string line;
      for (int i = 0; i < sqlite3_column_count(st); ++i) {
        if (i > 0) line += '|';
        const unsigned char* t = sqlite3_column_text(st, i);
        line += t != nullptr ? reinterpret_cast<const char*>(t) : "NULL";
      }
      out.push_back(line);
    }
    sqlite3_finalize(st);
    return out;
  }
  std::string one(const std::string& sql) {
    auto r = rows(sql);
    return r.empty() ? "<none>" : r.front();
  }
  void exec(const std::string& sql) {
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
        << (err != nullptr ? err : "");
    sqlite3_free(err);
  }
  // The error of SQL that should fail ("" when it succeeds).
  std::string error_of(const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    std::string out = rc == SQLITE_OK ? "" : (err != nullptr ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "kairos-store-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = (dir_ / "history.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Store> open() {
    std::string err;
    auto s = Store::open(path_, &err);
    EXPECT_NE(s, nullptr) << err;
    return s;
  }

  static RunRow run(const std::string& job, RunStatus status, Millis at,
                    Trigger trigger = Trigger::schedule) {
    RunRow r;
    r.job = job;
    r.trigger = trigger;
    r.status = status;
    r.scheduled_at = at;
    if (status != RunStatus::queued && status != RunStatus::skipped && status != RunStatus::missed) r.started_at = at + 1;
    return r;
  }

  fs::path dir_;
  std::string path_;
};

HistoryFilter of_job(const std::string& job, std::int64_t limit) {
  HistoryFilter f;
  f.job = job;
  f.limit = limit;
  return f;
}

std::vector<std::int64_t> ids(const std::vector<RunRow>& rows) {
  std::vector<std::int64_t> out;
  for (const auto& r : rows) out.push_back(r.id);
  return out;
}

// ---- schema ------------------------------------------------------------------------------

TEST_F(StoreTest, SchemaColumnsMatchThePublicContract) {
  { auto s = open(); }
  Raw raw(path_);
  // name|type|notnull|pk for each column, in order.
  auto cols = [&](const std::string& table) {
    return raw.rows("SELECT name, type, pk FROM pragma_table_info('" + table + "') ORDER BY cid");
  };
  EXPECT_EQ(cols("runs"),
            (std::vector<std::string>{
                "id|INTEGER|1", "job|TEXT|0", "trigger|TEXT|0", "scheduled_at|INTEGER|0",
                "started_at|INTEGER|0", "finished_at|INTEGER|0", "status|TEXT|0",
                "attempts|INTEGER|0", "exit_code|INTEGER|0", "signal|INTEGER|0", "error|TEXT|0",
                "missed_count|INTEGER|0", "missed_until|INTEGER|0"}));
  EXPECT_EQ(cols("attempts"),
            (std::vector<std::string>{
                "run_id|INTEGER|1", "attempt|INTEGER|2", "started_at|INTEGER|0",
                "finished_at|INTEGER|0", "status|TEXT|0", "exit_code|INTEGER|0", "signal|INTEGER|0",
                "output|BLOB|0", "output_truncated|INTEGER|0", "error|TEXT|0"}));
  EXPECT_EQ(cols("job_state"),
            (std::vector<std::string>{"job|TEXT|1", "anchor|INTEGER|0", "last_fired|INTEGER|0",
                                      "paused|INTEGER|0"}));
  EXPECT_EQ(raw.one("SELECT \"notnull\", dflt_value FROM pragma_table_info('runs') "
                    "WHERE name = 'missed_count'"),
            "1|0");
  EXPECT_EQ(raw.one("SELECT \"notnull\", dflt_value FROM pragma_table_info('job_state') "
                    "WHERE name = 'paused'"),
            "1|0");
  EXPECT_EQ(raw.one("SELECT \"table\", \"from\", \"to\", on_delete "
                    "FROM pragma_foreign_key_list('attempts')"),
            "runs|run_id|id|CASCADE");
  EXPECT_EQ(raw.rows("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"),
            (std::vector<std::string>{"attempts", "job_state", "runs"}));
}

TEST_F(StoreTest, IndexesServeLatestRunsOfAJobAndRunsByStatusSince) {
  { auto s = open(); }
  Raw raw(path_);
  EXPECT_EQ(raw.rows("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'runs' "
                     "AND name NOT LIKE 'sqlite_%' ORDER BY name"),
            (std::vector<std::string>{"runs_job_id", "runs_status_time"}));
  auto plan = [&](const std::string& q) {
    std::string all;
    for (const auto& r : raw.rows("EXPLAIN QUERY PLAN " + q)) all += r + "\n";
    return all;
  };
  std::string latest = plan("SELECT * FROM runs WHERE job = 'x' ORDER BY id DESC LIMIT 100");
  EXPECT_NE(latest.find("USING INDEX runs_job_id"), std::string::npos) << latest;
  EXPECT_EQ(latest.find("TEMP B-TREE"), std::string::npos) << latest;
  std::string since = plan(
      "SELECT * FROM runs WHERE status = 'failed' AND "
      "coalesce(scheduled_at, started_at) >= 5");
  EXPECT_NE(since.find("USING INDEX runs_status_time"), std::string::npos) << since;
}

TEST_F(StoreTest, PragmasAreWalAndUserVersionIsOne) {
  { auto s = open(); }
  Raw raw(path_);
  EXPECT_EQ(raw.one("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.one("PRAGMA user_version"), "1");
}

TEST_F(StoreTest, OpeningTwiceKeepsDataAndVersion) {
  std::int64_t id = 0;
  {
    auto s = open();
    id = s->insert_run(run("a", RunStatus::succeeded, kT0));
  }
  {
    auto s = open();
    ASSERT_TRUE(s->run(id).has_value());
    EXPECT_EQ(s->run(id)->job, "a");
  }
  Raw raw(path_);
  EXPECT_EQ(raw.one("PRAGMA user_version"), "1");
  EXPECT_EQ(raw.one("SELECT count(*) FROM runs"), "1");
}

TEST_F(StoreTest, NewerSchemaVersionIsRefusedUntouched) {
  { auto s = open(); }
  { Raw(path_).exec("PRAGMA user_version = 2"); }
  std::string err;
  EXPECT_EQ(Store::open(path_, &err), nullptr);
  EXPECT_NE(err.find(path_), std::string::npos) << err;
  EXPECT_NE(err.find("schema version 2 is newer"), std::string::npos) << err;
  EXPECT_EQ(Raw(path_).one("PRAGMA user_version"), "2");
}

TEST_F(StoreTest, UnopenablePathsAreReportedAsValues) {
  std::string err;
  EXPECT_EQ(Store::open((dir_ / "missing" / "history.db").string(), &err), nullptr);
  EXPECT_NE(err.find("unable to open database file"), std::string::npos) << err;

  std::ofstream(path_) << "this is not a database, just some text that is long enough.....";
  err.clear();
  EXPECT_EQ(Store::open(path_, &err), nullptr);
  EXPECT_NE(err.find("not a database"), std::string::npos) << err;
}

TEST_F(StoreTest, AForeignTableInAnUnversionedFileIsAnError) {
  { Raw(path_).exec("CREATE TABLE runs(x)"); }
  std::string err;
  EXPECT_EQ(Store::open(path_, &err), nullptr);
  EXPECT_NE(err.find("already exists"), std::string::npos) << err;
}

// ---- the SQLite kairos links -------------------------------------------------------------

#ifdef KAIROS_SQLITE_WITHOUT_FTS_RTREE
TEST_F(StoreTest, SqliteCarriesNoFullTextOrRtreeModules) {
  // lib/store/sqlite_builtins.cc keeps them out of the link (a quarter MiB less resident).
  Raw raw(path_);
  for (std::string module : {"fts3", "fts4", "fts5", "rtree"})
    EXPECT_EQ(raw.error_of("CREATE VIRTUAL TABLE t_" + module + " USING " + module + "(a, b, c)"),
              "no such module: " + module);
  // The rest of SQLite is all there: another virtual table module, and JSON.
  EXPECT_EQ(raw.error_of("CREATE VIRTUAL TABLE s USING dbstat"), "");
  EXPECT_EQ(raw.one("SELECT json_extract('{\"a\": 2}', '$.a')"), "2");
}

TEST_F(StoreTest, AVirtualTableItsSqliteCannotOpenIsRefusedSayingWhatToDo) {
  { auto s = open(); }
  // The sqlite3 shell is Debian's whole SQLite: a user adds a full-text index by hand.
  const std::string shell = "sqlite3 '" + path_ + "' ";
  ASSERT_EQ(std::system((shell + "'CREATE VIRTUAL TABLE runs_fts USING fts5(output)'").c_str()), 0);
  std::string err;
  EXPECT_EQ(Store::open(path_, &err), nullptr);
  EXPECT_NE(err.find("history.db: virtual table \"runs_fts\" cannot be opened "
                     "(no such module: fts5); kairosd's SQLite has no FTS or R-tree modules: "
                     "move the table to a database file of its own"),
            std::string::npos)
      << err;
  // Moved out, the file opens again; a virtual table this SQLite has is no obstacle.
  ASSERT_EQ(std::system((shell + "'DROP TABLE runs_fts'").c_str()), 0);
  { Raw(path_).exec("CREATE VIRTUAL TABLE pages USING dbstat"); }
  EXPECT_NE(open(), nullptr);
}
#endif

// ---- fds ---------------------------------------------------------------------------------

TEST_F(StoreTest, DatabaseFdsAreCloseOnExec) {
  auto s = open();
  s->insert_run(run("a", RunStatus::running, kT0));  // the -wal and -shm files are open now
  int seen = 0;
  for (const auto& e : fs::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    fs::path target = fs::read_symlink(e.path(), ec);
    if (ec || target.string().rfind(path_, 0) != 0) continue;
    int fd = std::stoi(e.path().filename().string());
    ++seen;
    EXPECT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC) << target;
  }
  EXPECT_GE(seen, 2);  // the database and its WAL at least
}

// ---- runs and attempts -------------------------------------------------------------------

TEST_F(StoreTest, RunAndAttemptLifecycleReadsBack) {
  auto s = open();
  RunRow r = run("backup", RunStatus::queued, kT0, Trigger::catch_up);
  std::int64_t id = s->insert_run(r);
  EXPECT_GT(id, 0);
  s->set_run_status(id, RunStatus::running, kT0 + 5);
  AttemptRow a;
  a.run_id = id;
  a.attempt = 1;
  a.started_at = kT0 + 5;
  a.status = RunStatus::running;
  s->insert_attempt(a);
  auto mid = s->attempts(id);
  ASSERT_EQ(mid.size(), 1U);
  EXPECT_EQ(mid[0].status, RunStatus::running);
  EXPECT_FALSE(mid[0].finished_at);

  a.finished_at = kT0 + 900;
  a.status = RunStatus::failed;
  a.exit_code = 3;
  a.output = "boom\n";
  a.error = "exit status 3";
  s->finish_attempt(a);

  AttemptRow b;  // its start was never recorded: finish_attempt still stores it
  b.run_id = id;
  b.attempt = 2;
  b.started_at = kT0 + 2000;
  b.finished_at = kT0 + 2100;
  b.status = RunStatus::timed_out;
  b.signal = 9;
  s->finish_attempt(b);

  RunRow done;
  done.id = id;
  done.status = RunStatus::timed_out;
  done.finished_at = kT0 + 2100;
  done.attempts = 2;
  done.signal = 9;
  done.error = "timed out after 100ms";
  s->finish_run(done);

  auto got = s->run(id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->job, "backup");
  EXPECT_EQ(got->trigger, Trigger::catch_up);
  EXPECT_EQ(got->scheduled_at, kT0);
  EXPECT_EQ(got->started_at, kT0 + 5);  // kept: finish_run had none
  EXPECT_EQ(got->finished_at, kT0 + 2100);
  EXPECT_EQ(got->status, RunStatus::timed_out);
  EXPECT_EQ(got->attempts, 2);
  EXPECT_FALSE(got->exit_code);
  EXPECT_EQ(got->signal, 9);
  EXPECT_EQ(got->error, "timed out after 100ms");
  EXPECT_EQ(got->missed_count, 0);

  auto att = s->attempts(id);
  ASSERT_EQ(att.size(), 2U);
  EXPECT_EQ(att[0].attempt, 1);
  EXPECT_EQ(att[0].status, RunStatus::failed);
  EXPECT_EQ(att[0].exit_code, 3);
  EXPECT_EQ(att[0].output, "boom\n");
  EXPECT_EQ(att[0].error, "exit status 3");
  EXPECT_EQ(att[1].attempt, 2);
  EXPECT_EQ(att[1].started_at, kT0 + 2000);
  EXPECT_EQ(att[1].signal, 9);
  EXPECT_EQ(att[1].output, "");

  // What users see: empty error is NULL, an ended attempt's output is a BLOB.
  Raw raw(path_);
  EXPECT_EQ(raw.one("SELECT typeof(error), typeof(output) FROM attempts WHERE attempt = 2"),
            "null|blob");
  EXPECT_EQ(raw.one("SELECT \"trigger\", trigger FROM runs"), "catch_up|catch_up");
}

TEST_F(StoreTest, OutputKeepsBinaryBytesNulsAndTheTruncatedFlag) {
  auto s = open();
  std::int64_t id = s->insert_run(run("bin", RunStatus::running, kT0));
  std::string bytes;
  for (int rep = 0; rep < 3; ++rep) {
    for (int c = 0; c < 256; ++c) bytes.push_back(static_cast<char>(c));
  }
  bytes += std::string(5, '\0');
  AttemptRow a;
  a.run_id = id;
  a.attempt = 1;
  a.status = RunStatus::succeeded;
  a.output = bytes;
  a.output_truncated = true;
  s->finish_attempt(a);
  auto got = s->attempts(id);
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0].output.size(), bytes.size());
  EXPECT_EQ(got[0].output, bytes);
  EXPECT_TRUE(got[0].output_truncated);
  EXPECT_EQ(Raw(path_).one("SELECT typeof(output), length(output), output_truncated "
                           "FROM attempts"),
            "blob|773|1");
}

TEST_F(StoreTest, UnknownIdsAreValuesNotErrors) {
  auto s = open();
  EXPECT_FALSE(s->run(42));
  EXPECT_TRUE(s->attempts(42).empty());
  EXPECT_FALSE(s->last_result("nope"));
  EXPECT_FALSE(s->last_scheduled("nope"));
  EXPECT_FALSE(s->job_state("nope"));
  RunRow r;
  r.id = 42;
  r.status = RunStatus::failed;
  EXPECT_NO_THROW(s->finish_run(r));
  EXPECT_NO_THROW(s->set_run_status(42, RunStatus::running, kT0));
  EXPECT_TRUE(s->history({}).empty());
}

TEST_F(StoreTest, AnAttemptOfAMissingRunIsACallerBugAndThrows) {
  auto s = open();
  AttemptRow a;
  a.run_id = 777;
  a.attempt = 1;
  a.status = RunStatus::running;
  try {
    s->insert_attempt(a);
    FAIL() << "no throw";
  } catch (const kairos::store::Error& e) {
    EXPECT_NE(std::string(e.what()).find("FOREIGN KEY"), std::string::npos) << e.what();
  }
  // The statement was reset: the store keeps working.
  EXPECT_GT(s->insert_run(run("a", RunStatus::running, kT0)), 0);
}

// ---- reads -------------------------------------------------------------------------------

TEST_F(StoreTest, HistoryIsNewestFirstAndFiltersCombine) {
  auto s = open();
  // id 1..6
  std::int64_t a1 = s->insert_run(run("a", RunStatus::succeeded, kT0 + 100));
  std::int64_t b1 = s->insert_run(run("b", RunStatus::failed, kT0 + 200));
  std::int64_t a2 = s->insert_run(run("a", RunStatus::failed, kT0 + 300));
  std::int64_t a3 = s->insert_run(run("a", RunStatus::skipped, kT0 + 400));
  RunRow manual = run("b", RunStatus::failed, 0, Trigger::manual);
  manual.scheduled_at.reset();  // no scheduled instant: its start time counts
  manual.started_at = kT0 + 500;
  std::int64_t b2 = s->insert_run(manual);
  std::int64_t a4 = s->insert_run(run("a", RunStatus::succeeded, kT0 + 600));

  EXPECT_EQ(ids(s->history({})), (std::vector<std::int64_t>{a4, b2, a3, a2, b1, a1}));
  HistoryFilter f;
  f.job = "a";
  EXPECT_EQ(ids(s->history(f)), (std::vector<std::int64_t>{a4, a3, a2, a1}));
  f.status = RunStatus::failed;
  EXPECT_EQ(ids(s->history(f)), (std::vector<std::int64_t>{a2}));
  f.job.reset();
  EXPECT_EQ(ids(s->history(f)), (std::vector<std::int64_t>{b2, a2, b1}));
  f.since = kT0 + 300;
  EXPECT_EQ(ids(s->history(f)), (std::vector<std::int64_t>{b2, a2}));
  f.since = kT0 + 301;
  EXPECT_EQ(ids(s->history(f)), (std::vector<std::int64_t>{b2}));
  f.job = "a";
  EXPECT_TRUE(s->history(f).empty());
  HistoryFilter since_only;
  since_only.since = kT0 + 400;
  EXPECT_EQ(ids(s->history(since_only)), (std::vector<std::int64_t>{a4, b2, a3}));
  HistoryFilter job_since;
  job_since.job = "a";
  job_since.since = kT0 + 300;
  EXPECT_EQ(ids(s->history(job_since)), (std::vector<std::int64_t>{a4, a3, a2}));

  HistoryFilter lim;
  lim.limit = 2;
  EXPECT_EQ(ids(s->history(lim)), (std::vector<std::int64_t>{a4, b2}));
  lim.limit = 0;  // clamped to 1
  EXPECT_EQ(ids(s->history(lim)), (std::vector<std::int64_t>{a4}));
  lim.limit = -5;
  EXPECT_EQ(s->history(lim).size(), 1U);
  lim.job = "b";
  lim.limit = 1000;
  EXPECT_EQ(ids(s->history(lim)), (std::vector<std::int64_t>{b2, b1}));
}

TEST_F(StoreTest, LastResultIgnoresSkippedMissedAndActiveRuns) {
  auto s = open();
  EXPECT_FALSE(s->last_result("a"));
  std::int64_t ok = s->insert_run(run("a", RunStatus::succeeded, kT0));
  s->insert_run(run("b", RunStatus::failed, kT0 + 50));
  s->insert_run(run("a", RunStatus::skipped, kT0 + 100));
  RunRow missed = run("a", RunStatus::missed, kT0 + 200);
  missed.missed_count = 7;
  missed.missed_until = kT0 + 800;
  s->insert_run(missed);
  s->insert_run(run("a", RunStatus::running, kT0 + 900));
  s->insert_run(run("a", RunStatus::queued, kT0 + 950));
  ASSERT_TRUE(s->last_result("a"));
  EXPECT_EQ(s->last_result("a")->id, ok);
  std::int64_t bad = s->insert_run(run("a", RunStatus::interrupted, kT0 + 1000));
  EXPECT_EQ(s->last_result("a")->id, bad);
}

TEST_F(StoreTest, MissedRowStandsForManyFiringsAndLastScheduledSeesItsEnd) {
  auto s = open();
  s->insert_run(run("tick", RunStatus::succeeded, kT0));
  EXPECT_EQ(s->last_scheduled("tick"), kT0);
  RunRow missed = run("tick", RunStatus::missed, kT0 + 1000);
  missed.missed_count = 86'400;
  missed.missed_until = kT0 + 86'400'000;
  std::int64_t id = s->insert_run(missed);
  EXPECT_EQ(s->last_scheduled("tick"), kT0 + 86'400'000);
  auto got = s->run(id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->missed_count, 86'400);
  EXPECT_EQ(got->missed_until, kT0 + 86'400'000);
  EXPECT_FALSE(got->started_at);
  EXPECT_FALSE(s->last_scheduled("other"));
  // A manual run is not a firing of the schedule: it does not move the job's last firing.
  s->insert_run(run("tick", RunStatus::succeeded, kT0 + 90'000'000, Trigger::manual));
  EXPECT_EQ(s->last_scheduled("tick"), kT0 + 86'400'000);
  s->insert_run(run("tick", RunStatus::queued, kT0 + 86'401'000));
  EXPECT_EQ(s->last_scheduled("tick"), kT0 + 86'401'000);
}

TEST_F(StoreTest, JobStateRoundTripsAndUpdatesInPlace) {
  auto s = open();
  JobState st;
  st.job = "heartbeat";
  st.anchor = kT0;
  s->put_job_state(st);
  auto got = s->job_state("heartbeat");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->job, "heartbeat");
  EXPECT_EQ(got->anchor, kT0);
  EXPECT_FALSE(got->last_fired);
  EXPECT_FALSE(got->paused);
  st.last_fired = kT0 + 300'000;
  st.paused = true;
  s->put_job_state(st);
  s.reset();
  s = open();
  got = s->job_state("heartbeat");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->anchor, kT0);
  EXPECT_EQ(got->last_fired, kT0 + 300'000);
  EXPECT_TRUE(got->paused);
  EXPECT_EQ(Raw(path_).one("SELECT count(*) FROM job_state"), "1");
}

TEST_F(StoreTest, ReleasingMemoryFreesPreparedStatementsThatWorkAgainAtTheirNextUse) {
  auto s = open();
  std::int64_t a1 = s->insert_run(run("a", RunStatus::succeeded, kT0 + 100));
  HistoryFilter f;
  f.job = "a";
  ASSERT_EQ(ids(s->history(f)), (std::vector<std::int64_t>{a1}));
  JobState st;
  st.job = "a";
  st.anchor = kT0;
  s->put_job_state(st);
  ASSERT_TRUE(s->job_state("a"));
  // The statements these calls prepared hold SQLite memory; releasing gives it back.
  sqlite3_int64 before = sqlite3_memory_used();
  s->release_memory();
  EXPECT_LT(sqlite3_memory_used(), before - 8 * 1024) << "nothing was released";
  // Every one of them is prepared again when it is next used.
  std::int64_t a2 = s->insert_run(run("a", RunStatus::failed, kT0 + 200));
  EXPECT_EQ(ids(s->history(f)), (std::vector<std::int64_t>{a2, a1}));
  st.last_fired = kT0 + 200;
  s->put_job_state(st);
  auto got = s->job_state("a");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->last_fired, kT0 + 200);
  // Inside a transaction too: finalizing a statement does not end the transaction.
  {
    Store::Transaction tx(*s);
    s->insert_run(run("a", RunStatus::succeeded, kT0 + 300));
    s->release_memory();
    s->insert_run(run("a", RunStatus::succeeded, kT0 + 400));
  }
  EXPECT_EQ(s->history(f).size(), 4u);
}

// ---- recovery and pruning ----------------------------------------------------------------

TEST_F(StoreTest, RecoverInterruptedEndsActiveRunsAndAttempts) {
  auto s = open();
  std::int64_t running = s->insert_run(run("a", RunStatus::running, kT0));
  std::int64_t queued = s->insert_run(run("b", RunStatus::queued, kT0));
  std::int64_t done = s->insert_run(run("c", RunStatus::succeeded, kT0));
  AttemptRow a;
  a.run_id = running;
  a.attempt = 1;
  a.status = RunStatus::failed;
  a.finished_at = kT0 + 10;
  s->finish_attempt(a);
  a.attempt = 2;
  a.status = RunStatus::running;
  a.finished_at.reset();
  s->insert_attempt(a);

  EXPECT_EQ(s->recover_interrupted(kT0 + 5000), 2);
  for (std::int64_t id : {running, queued}) {
    auto r = s->run(id);
    EXPECT_EQ(r->status, RunStatus::interrupted);
    EXPECT_EQ(r->finished_at, kT0 + 5000);
    EXPECT_EQ(r->error, "kairosd stopped while the run was active");
  }
  EXPECT_EQ(s->run(done)->status, RunStatus::succeeded);
  EXPECT_FALSE(s->run(done)->finished_at);
  auto att = s->attempts(running);
  ASSERT_EQ(att.size(), 2U);
  EXPECT_EQ(att[0].status, RunStatus::failed);
  EXPECT_EQ(att[0].finished_at, kT0 + 10);
  EXPECT_EQ(att[1].status, RunStatus::interrupted);
  EXPECT_EQ(att[1].finished_at, kT0 + 5000);
  EXPECT_EQ(att[1].error, Store::kInterruptedError);
  EXPECT_EQ(s->recover_interrupted(kT0 + 6000), 0);
}

TEST_F(StoreTest, PruneByCountKeepsNewestPerJobAndCascadesAttempts) {
  auto s = open();
  std::vector<std::int64_t> a_ids;
  const std::string out(1, 'x');
  {
    Store::Transaction tx(*s);
    for (int i = 0; i < 10; ++i) {
      for (const char* job : {"a", "b", ""}) {
        std::int64_t id = s->insert_run(run(job, RunStatus::succeeded, kT0 + i));
        if (std::string(job) == "a") a_ids.push_back(id);
        for (int k = 1; k <= 2; ++k) {
          AttemptRow at;
          at.run_id = id;
          at.attempt = k;
          at.status = RunStatus::succeeded;
          at.output = out;
          s->finish_attempt(at);
        }
      }
    }
  }
  std::int64_t c_running = s->insert_run(run("c", RunStatus::running, kT0));
  s->insert_run(run("c", RunStatus::succeeded, kT0 + 1));
  EXPECT_EQ(s->prune(4, 0, kT0 + 100), 6 + 6 + 6);
  Raw raw(path_);
  EXPECT_EQ(raw.one("SELECT count(*) FROM runs WHERE job = 'a'"), "4");
  EXPECT_EQ(raw.one("SELECT count(*) FROM runs WHERE job = ''"), "4");
  EXPECT_EQ(raw.one("SELECT count(*) FROM runs WHERE job = 'c'"), "2");
  HistoryFilter f;
  f.job = "a";
  EXPECT_EQ(ids(s->history(f)),
            (std::vector<std::int64_t>{a_ids[9], a_ids[8], a_ids[7], a_ids[6]}));
  EXPECT_EQ(raw.one("SELECT count(*) FROM attempts"), "24");
  EXPECT_EQ(raw.one("SELECT count(*) FROM attempts WHERE run_id NOT IN (SELECT id FROM runs)"),
            "0");
  // A running run is never pruned, even beyond the count.
  EXPECT_EQ(s->prune(1, 0, kT0 + 100), 3 + 3 + 3);  // a, b and ""; c's older run is running
  EXPECT_TRUE(s->run(c_running));
  EXPECT_EQ(s->prune(1, 0, kT0 + 100), 0);
}

TEST_F(StoreTest, PruneByAgeDeletesOldFinishedRunsOnly) {
  auto s = open();
  std::int64_t old_done = s->insert_run(run("a", RunStatus::failed, kT0));
  std::int64_t old_running = s->insert_run(run("a", RunStatus::running, kT0));
  RunRow manual = run("a", RunStatus::succeeded, 0, Trigger::manual);
  manual.scheduled_at.reset();
  manual.started_at = kT0 + 10;
  std::int64_t old_manual = s->insert_run(manual);
  std::int64_t fresh = s->insert_run(run("a", RunStatus::succeeded, kT0 + 50'000));
  AttemptRow at;
  at.run_id = old_done;
  at.attempt = 1;
  at.status = RunStatus::failed;
  s->finish_attempt(at);

  EXPECT_EQ(s->prune(0, 40'000, kT0 + 60'000), 2);  // cutoff kT0 + 20'000
  EXPECT_FALSE(s->run(old_done));
  EXPECT_FALSE(s->run(old_manual));
  EXPECT_TRUE(s->run(old_running));
  EXPECT_TRUE(s->run(fresh));
  EXPECT_TRUE(s->attempts(old_done).empty());
  EXPECT_EQ(Raw(path_).one("SELECT count(*) FROM attempts"), "0");
  // Both limits together.
  s->insert_run(run("a", RunStatus::succeeded, kT0 + 55'000));
  EXPECT_EQ(s->prune(1, 40'000, kT0 + 60'000), 1);
  EXPECT_FALSE(s->run(fresh));
}

TEST_F(StoreTest, PruneInSlicesDeletesAtMostMaxDeleteOldestFirst) {
  auto s = open();
  {
    Store::Transaction tx(*s);
    for (int i = 0; i < 10; ++i) {
      s->insert_run(run("a", RunStatus::succeeded, kT0 + i));
      s->insert_run(run("b", RunStatus::succeeded, kT0 + i));
    }
  }
  EXPECT_EQ(s->prune(2, 0, kT0, 5), 5);
  EXPECT_EQ(s->history(of_job("a", 100)).size(), 5U);  // a's 5 oldest went first
  EXPECT_EQ(s->run(1), std::nullopt);
  EXPECT_EQ(s->prune(2, 0, kT0, 5), 5);
  EXPECT_EQ(s->prune(2, 0, kT0, 5), 5);
  EXPECT_EQ(s->prune(2, 0, kT0, 5), 1);
  EXPECT_EQ(s->history({}).size(), 4U);
  EXPECT_EQ(s->prune(0, 1, kT0 + 100, 3), 3);  // by age, also sliced
  EXPECT_EQ(s->prune(0, 1, kT0 + 100, 0), 0);
  EXPECT_EQ(s->history({}).size(), 1U);
}

// ---- transactions ------------------------------------------------------------------------

TEST_F(StoreTest, NestedTransactionsCommitOnlyAtTheOutermost) {
  auto s = open();
  Raw raw(path_);
  s->begin();
  s->begin();
  EXPECT_EQ(s->transaction_depth(), 2);
  s->insert_run(run("a", RunStatus::running, kT0));
  s->commit();
  EXPECT_EQ(raw.one("SELECT count(*) FROM runs"), "0");  // not yet visible to others
  s->commit();
  EXPECT_EQ(s->transaction_depth(), 0);
  EXPECT_EQ(raw.one("SELECT count(*) FROM runs"), "1");
  EXPECT_THROW(s->commit(), kairos::store::Error);
  {
    Store::Transaction outer(*s);
    {
      Store::Transaction inner(*s);
      s->insert_run(run("a", RunStatus::running, kT0));
    }
    EXPECT_EQ(raw.one("SELECT count(*) FROM runs"), "1");
  }
  EXPECT_EQ(raw.one("SELECT count(*) FROM runs"), "2");
}

TEST_F(StoreTest, TransactionLeftByAnExceptionRollsBack) {
  auto s = open();
  try {
    Store::Transaction tx(*s);
    s->insert_run(run("a", RunStatus::running, kT0));
    throw std::runtime_error("daemon bug");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(s->transaction_depth(), 0);
  EXPECT_TRUE(s->history({}).empty());
  // The store is usable afterwards.
  {
    Store::Transaction tx(*s);
    s->insert_run(run("a", RunStatus::running, kT0));
  }
  EXPECT_EQ(s->history({}).size(), 1U);
}

TEST_F(StoreTest, AnAbandonedInnerTransactionPreventsTheOuterCommit) {
  auto s = open();
  s->begin();
  s->insert_run(run("a", RunStatus::running, kT0));
  try {
    Store::Transaction inner(*s);
    s->insert_run(run("a", RunStatus::running, kT0));
    throw std::runtime_error("inner failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(s->transaction_depth(), 1);
  EXPECT_THROW(s->commit(), kairos::store::Error);
  EXPECT_EQ(s->transaction_depth(), 0);
  EXPECT_TRUE(s->history({}).empty());
  s->insert_run(run("a", RunStatus::running, kT0));  // autocommit again
  EXPECT_EQ(Raw(path_).one("SELECT count(*) FROM runs"), "1");
}

// A full disk is simulated with RLIMIT_FSIZE in a child (so the limit cannot touch the test
// runner's own files): the WAL cannot grow, so COMMIT fails when it writes the frames.
TEST_F(StoreTest, ACommitThatFailsForAFullDiskRollsBackAndThrows) {
  { auto s = open(); }
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto s = Store::open(path_, nullptr);
    if (!s) _exit(10);
    s->insert_run(run("before", RunStatus::succeeded, kT0));
    signal(SIGXFSZ, SIG_IGN);
    rlimit lim{};
    getrlimit(RLIMIT_FSIZE, &lim);
    rlimit tight = lim;
    tight.rlim_cur = static_cast<rlim_t>(fs::file_size(path_ + "-wal"));
    if (setrlimit(RLIMIT_FSIZE, &tight) != 0) _exit(11);
    s->begin();
    for (int i = 0; i < 20; ++i) s->insert_run(run("lost", RunStatus::succeeded, kT0));  // in cache
    bool threw = false;
    try {
      s->commit();
    } catch (const kairos::store::Error&) {
      threw = true;
    }
    setrlimit(RLIMIT_FSIZE, &lim);
    if (!threw) _exit(12);
    if (s->transaction_depth() != 0) _exit(13);
    HistoryFilter f;
    f.job = "lost";
    if (!s->history(f).empty()) _exit(14);
    s->insert_run(run("after", RunStatus::succeeded, kT0));  // the connection still works
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  Raw raw(path_);
  EXPECT_EQ(raw.rows("SELECT job FROM runs ORDER BY id"),
            (std::vector<std::string>{"before", "after"}));
  EXPECT_EQ(raw.one("PRAGMA integrity_check"), "ok");
}

TEST_F(StoreTest, ReadersWithSqlite3DoNotBlockWrites) {
  auto s = open();
  s->insert_run(run("a", RunStatus::succeeded, kT0));
  Raw reader(path_);
  reader.exec("BEGIN");
  EXPECT_EQ(reader.one("SELECT count(*) FROM runs"), "1");  // read transaction now open
  for (int i = 0; i < 20; ++i) {
    Store::Transaction tx(*s);
    s->insert_run(run("a", RunStatus::succeeded, kT0 + i));
  }
  EXPECT_EQ(reader.one("SELECT count(*) FROM runs"), "1");  // its snapshot
  reader.exec("COMMIT");
  EXPECT_EQ(reader.one("SELECT count(*) FROM runs"), "21");
}

TEST_F(StoreTest, AWriterHoldingTheLockMakesWritesThrowAfterTheBusyTimeout) {
  auto s = open();
  Raw writer(path_);
  writer.exec("BEGIN IMMEDIATE");
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(s->insert_run(run("a", RunStatus::running, kT0)), kairos::store::Error);
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(waited, std::chrono::milliseconds(1500));
  EXPECT_LT(waited, std::chrono::seconds(10));
  writer.exec("ROLLBACK");
  EXPECT_GT(s->insert_run(run("a", RunStatus::running, kT0)), 0);
}

// ---- crash safety ------------------------------------------------------------------------

// The child opens its own connection after fork (never share a SQLite connection across
// fork), commits runs one transaction each and reports every id after its commit returned.
// It dies by SIGKILL, either by its own hand with a transaction open or by the parent's at
// an arbitrary instant.
[[noreturn]] void crash_child(const std::string& path, int report_fd, int runs,
                              bool die_mid_transaction) {
  std::string err;
  auto s = Store::open(path, &err);
  if (!s) _exit(2);
  for (int i = 0; runs < 0 || i < runs; ++i) {
    std::int64_t id = 0;
    {
      Store::Transaction tx(*s);
      RunRow r;
      r.job = "crash";
      r.trigger = Trigger::schedule;
      r.status = RunStatus::running;
      r.scheduled_at = kT0 + i;
      id = s->insert_run(r);
      AttemptRow a;
      a.run_id = id;
      a.attempt = 1;
      a.status = RunStatus::succeeded;
      a.output = std::string(2000, 'o');
      s->finish_attempt(a);
    }
    if (write(report_fd, &id, sizeof id) != sizeof id) _exit(3);
  }
  if (die_mid_transaction) {
    s->begin();
    RunRow r;
    r.job = "uncommitted";
    r.trigger = Trigger::schedule;
    r.status = RunStatus::running;
    s->insert_run(r);
    kill(getpid(), SIGKILL);
  }
  _exit(0);
}

std::vector<std::int64_t> read_ids(int fd, std::size_t stop_after, pid_t kill_pid) {
  std::vector<std::int64_t> out;
  std::int64_t id = 0;
  while (read(fd, &id, sizeof id) == sizeof id) {
    out.push_back(id);
    if (kill_pid > 0 && out.size() == stop_after) kill(kill_pid, SIGKILL);
  }
  return out;
}

void expect_intact(const std::string& path, const std::vector<std::int64_t>& committed) {
  Raw raw(path);
  EXPECT_EQ(raw.one("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(raw.one("PRAGMA foreign_key_check"), "<none>");
  std::set<std::string> have;
  for (const auto& r : raw.rows("SELECT id FROM runs WHERE job = 'crash'")) have.insert(r);
  for (std::int64_t id : committed) {
    EXPECT_TRUE(have.count(std::to_string(id))) << "committed run " << id << " lost";
  }
  EXPECT_EQ(raw.one("SELECT count(*) FROM runs WHERE job = 'uncommitted'"), "0");
  EXPECT_EQ(raw.one("SELECT count(*) FROM attempts"), std::to_string(have.size()));
}

TEST_F(StoreTest, KillNineWithATransactionOpenLosesNoCommittedRun) {
  { auto s = open(); }  // create it first, so the child does not migrate
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    crash_child(path_, fds[1], 50, /*die_mid_transaction=*/true);
  }
  close(fds[1]);
  auto committed = read_ids(fds[0], 0, -1);
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  ASSERT_EQ(committed.size(), 50U);
  // The WAL is still there: nobody checkpointed it. Reopening recovers from it.
  EXPECT_TRUE(fs::exists(path_ + "-wal"));
  auto s = open();
  ASSERT_NE(s, nullptr);
  expect_intact(path_, committed);
  EXPECT_EQ(s->history(of_job("crash", 1000)).size(), 50U);
}

TEST_F(StoreTest, KillNineAtAnArbitraryInstantLosesNoCommittedRun) {
  { auto s = open(); }
  for (std::size_t stop_after : {1U, 37U, 211U}) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      crash_child(path_, fds[1], -1, false);  // writes until killed
    }
    close(fds[1]);
    auto committed = read_ids(fds[0], stop_after, pid);
    close(fds[0]);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << status;
    ASSERT_GE(committed.size(), stop_after);
    expect_intact(path_, committed);
  }
  auto s = open();
  EXPECT_EQ(s->recover_interrupted(kT0 + 1),
            static_cast<std::int64_t>(s->history(of_job("crash", 100000)).size()));
}

}  // namespace

namespace kairos::store {
namespace {

TEST_F(StoreTest, CommitHookReplacesAutoCheckpointAndACheckpointStartsTheWalOver) {
  std::string err;
  auto s = open();
  ASSERT_NE(s, nullptr);
  std::vector<int> pages;
  s->on_wal_commit([&](int p) { pages.push_back(p); });
  for (int i = 0; i < 1500; ++i) {
    Store::Transaction tx(*s);
    RunRow r;
    r.job = "j";
    r.trigger = Trigger::schedule;
    r.status = RunStatus::succeeded;
    r.scheduled_at = i;
    r.error = std::string(2000, 'x');  // grow the WAL past SQLite's 1000-page default
    s->insert_run(r);
  }
  ASSERT_EQ(pages.size(), 1500u);
  // The automatic checkpoint is off: the WAL only grows.
  EXPECT_TRUE(std::is_sorted(pages.begin(), pages.end()));
  EXPECT_GT(pages.back(), 1000);
  EXPECT_TRUE(s->checkpoint(&err)) << err;
  // After the checkpoint the next commit starts the WAL over.
  {
    Store::Transaction tx(*s);
    RunRow r;
    r.job = "j";
    r.trigger = Trigger::schedule;
    r.status = RunStatus::succeeded;
    s->insert_run(r);
  }
  EXPECT_LT(pages.back(), 10);
  EXPECT_EQ(s->history(HistoryFilter{"j", std::nullopt, std::nullopt, 5000}).size(), 1501u);
}

}  // namespace
}  // namespace kairos::store

// History: the daemon's write path, on a real loop, a real writer thread and a real SQLite
// file in a fresh temp dir per test.
#include "daemon/history.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "async/timer.h"
#include "loop_fixture.h"

namespace fs = std::filesystem;
using kairos::async::Task;
using kairos::daemon::History;
using kairos::store::AttemptRow;
using kairos::store::JobState;
using kairos::store::RunRow;
using kairos::store::Store;
using kairos::store::RunStatus;
using kairos::store::Trigger;

namespace {

class HistoryTest : public kairos::async::testing::LoopTest {
 protected:
  void SetUp() override {
    LoopTest::SetUp();
    dir_ = fs::temp_directory_path() / ("kairos-history-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "history.db").string();
  }
  void TearDown() override {
    // The writer stops and the loop handle closes before the loop is checked for leftovers;
    // the object itself goes after the loop's last drain.
    if (h_) h_->close();
    LoopTest::TearDown();
    h_.reset();
    reader_.reset();
    fs::remove_all(dir_);
  }
  std::unique_ptr<Store> open() {
    std::string err;
    auto s = Store::open(path_, &err);
    EXPECT_TRUE(s) << err;
    return s;
  }
  History& start() {
    reader_ = open();
    h_ = std::make_unique<History>(loop(), *reader_, open(), path_);
    return *h_;
  }
  static RunRow queued(const std::string& job) {
    RunRow r;
    r.job = job;
    r.trigger = Trigger::schedule;
    r.scheduled_at = 1'790'000'000'000;
    r.status = RunStatus::queued;
    return r;
  }

  fs::path dir_;
  std::string path_;
  std::unique_ptr<Store> reader_;
  std::unique_ptr<History> h_;
};

TEST_F(HistoryTest, WritesReachTheDatabaseInOrderAndDurableWaitsForThem) {
  auto& h = start();
  run([](History& h, Store& read) -> Task<void> {
    auto id = h.insert_run(queued("a"));
    EXPECT_FALSE(h.settled());
    co_await h.durable();
    EXPECT_TRUE(h.settled());
    auto row = read.run(id);
    EXPECT_TRUE(row && row->status == RunStatus::queued);

    // Several writes to one run in one batch apply in the order they were made.
    h.set_run_status(id, RunStatus::running, 1'790'000'000'005);
    AttemptRow a;
    a.run_id = id;
    a.attempt = 1;
    a.status = RunStatus::running;
    h.insert_attempt(a);
    a.status = RunStatus::succeeded;
    a.exit_code = 0;
    a.output = "hello\n";
    h.finish_attempt(a);
    RunRow done = queued("a");
    done.id = id;
    done.status = RunStatus::succeeded;
    done.finished_at = 1'790'000'000'010;
    done.attempts = 1;
    done.exit_code = 0;
    h.finish_run(done);
    co_await h.durable();
    row = read.run(id);
    EXPECT_TRUE(row && row->status == RunStatus::succeeded && row->started_at == 1'790'000'000'005);
    auto attempts = read.attempts(id);
    EXPECT_EQ(attempts.size(), 1u);
    if (!attempts.empty()) {
      EXPECT_EQ(attempts[0].output, "hello\n");
    }
  }(h, *reader_));
  EXPECT_GE(h.commits(), 2u);
}

// A run's start waits up to kDeferMs on the loop: a run that ends sooner writes it with its
// end (two statements fewer); one that does not has it written by then.
TEST_F(HistoryTest, ARunsStartIsWrittenWithItsEndOrWithinTheDeferral) {
  auto& h = start();
  run([](History& h, Store& read) -> Task<void> {
    constexpr kairos::store::Millis t = 1'790'000'000'005;
    auto quick = h.insert_run(queued("a"));
    auto slow = h.insert_run(queued("b"));
    co_await h.durable();
    h.start_attempt(quick, 1, t);
    h.start_attempt(slow, 1, t);
    h.insert_run(queued("c"));  // a commit, which must not carry the starts
    co_await h.durable();
    EXPECT_EQ(read.run(quick)->status, RunStatus::queued);
    EXPECT_TRUE(read.attempts(quick).empty());

    AttemptRow a;
    a.run_id = quick;
    a.attempt = 1;
    a.started_at = t;
    a.finished_at = t + 3;
    a.status = RunStatus::succeeded;
    a.exit_code = 0;
    h.finish_attempt(a);
    RunRow done = queued("a");
    done.id = quick;
    done.status = RunStatus::succeeded;
    done.started_at = t;
    done.finished_at = t + 3;
    done.attempts = 1;
    h.finish_run(done);
    co_await h.durable();
    auto row = read.run(quick);
    EXPECT_TRUE(row && row->status == RunStatus::succeeded && row->started_at == t);
    auto attempts = read.attempts(quick);
    EXPECT_TRUE(attempts.size() == 1 && attempts[0].started_at == t &&
                attempts[0].status == RunStatus::succeeded);

    // The other one is still going: its start is written once the deferral has passed.
    co_await kairos::async::sleep_for(std::chrono::milliseconds(History::kDeferMs + 200));
    co_await h.durable();
    row = read.run(slow);
    EXPECT_TRUE(row && row->status == RunStatus::running && row->started_at == t);
    attempts = read.attempts(slow);
    EXPECT_TRUE(attempts.size() == 1 && attempts[0].status == RunStatus::running);
    // And nothing about the ended run was written after its end.
    EXPECT_EQ(read.run(quick)->status, RunStatus::succeeded);
  }(h, *reader_));
}

// A retry's status change goes after the start it follows, however long that was deferred.
TEST_F(HistoryTest, AWriteAboutARunGoesAfterItsDeferredStart) {
  auto& h = start();
  run([](History& h, Store& read) -> Task<void> {
    auto id = h.insert_run(queued("a"));
    h.start_attempt(id, 1, 1'790'000'000'005);
    AttemptRow a;
    a.run_id = id;
    a.attempt = 1;
    a.status = RunStatus::failed;
    h.finish_attempt(a);
    h.set_run_status(id, RunStatus::queued, std::nullopt);  // waits for a slot for attempt 2
    co_await h.durable();
    auto row = read.run(id);
    EXPECT_TRUE(row && row->status == RunStatus::queued && row->started_at == 1'790'000'000'005);
    EXPECT_EQ(read.attempts(id).size(), 1u);
  }(h, *reader_));
}

// A job's state after a firing is written within kDeferMs, the newest only, and never over
// a state written at once after it (a pause).
TEST_F(HistoryTest, AJobStateWrittenSoonKeepsOnlyTheNewestAndYieldsToOneWrittenNow) {
  auto& h = start();
  run([](History& h, Store& read) -> Task<void> {
    JobState s;
    s.job = "a";
    s.last_fired = 1;
    h.put_job_state_soon(s);
    s.last_fired = 2;
    h.put_job_state_soon(s);
    s.job = "b";
    h.put_job_state_soon(s);
    h.insert_run(queued("c"));
    co_await h.durable();
    EXPECT_FALSE(read.job_state("a"));
    s.job = "b";
    s.last_fired = 3;
    s.paused = true;
    h.put_job_state(s);
    co_await kairos::async::sleep_for(std::chrono::milliseconds(History::kDeferMs + 200));
    co_await h.durable();
    auto a = read.job_state("a");
    EXPECT_TRUE(a && a->last_fired == 2);
    auto b = read.job_state("b");
    EXPECT_TRUE(b && b->last_fired == 3 && b->paused);
  }(h, *reader_));
}

TEST_F(HistoryTest, RunIdsContinueAfterTheNewestRowOnDisk) {
  {
    auto s = open();
    RunRow r = queued("old");
    r.id = 41;
    EXPECT_EQ(s->insert_run(r), 41);
  }
  auto& h = start();
  run([](History& h, Store& read) -> Task<void> {
    auto a = h.insert_run(queued("a"));
    auto b = h.insert_run(queued("b"));
    EXPECT_EQ(a, 42);
    EXPECT_EQ(b, 43);
    co_await h.durable();
    auto row = read.run(b);
    EXPECT_TRUE(row && row->job == "b");
  }(h, *reader_));
}

TEST_F(HistoryTest, WhenDurableRunsAtOnceWhenSettledAndAfterTheCommitOtherwise) {
  auto& h = start();
  bool now = false;
  h.when_durable([&] { now = true; });
  EXPECT_TRUE(now);
  run([](History& h, Store& read) -> Task<void> {
    auto id = h.insert_run(queued("a"));
    bool seen = false;
    h.when_durable([&] { seen = read.run(id).has_value(); });
    EXPECT_FALSE(seen);
    // Nothing else keeps this loop alive: the waiter itself must.
    co_await kairos::async::sleep_for(std::chrono::milliseconds(1));
    co_await h.durable();
    EXPECT_TRUE(seen);
  }(h, *reader_));
}

// A firing's row is written ahead of its instant, and the firing only checks at its instant
// that the row is on disk: a mark taken after a write answers that without a wait.
TEST_F(HistoryTest, AMarkTellsWhenTheWritesBeforeItAreCommittedWithoutWaitingForLaterOnes) {
  auto& h = start();
  EXPECT_TRUE(h.committed(h.mark()));  // nothing written yet
  std::vector<int> order;
  run([](History& h, Store& read, std::vector<int>& order) -> Task<void> {
    auto a = h.insert_run(queued("a"));
    auto m1 = h.mark();
    EXPECT_FALSE(h.committed(m1));
    // No one waits: the writer commits without waking the loop; the mark sees it later.
    for (int i = 0; i < 200 && !h.committed(m1); ++i)
      co_await kairos::async::sleep_for(std::chrono::milliseconds(5));
    EXPECT_TRUE(h.committed(m1));
    EXPECT_TRUE(read.run(a).has_value());
    co_await h.durable(m1);  // ready at once

    // A mark taken earlier and awaited after a later one resumes first.
    h.insert_run(queued("b"));
    auto m2 = h.mark();
    co_await kairos::async::sleep_for(std::chrono::milliseconds(0));  // batch 2 handed over
    h.insert_run(queued("c"));
    auto m3 = h.mark();
    EXPECT_LT(m2, m3);
    h.when_committed(m3, [&order] { order.push_back(3); });
    h.when_committed(m2, [&order] { order.push_back(2); });
    co_await h.durable(m3);
  }(h, *reader_, order));
  EXPECT_EQ(order, (std::vector<int>{2, 3}));
}

// Under steady writes the checkpoint thread copies the WAL while commits go on, and the
// writer copies the rest: the WAL starts over instead of growing with what is written.
TEST_F(HistoryTest, TheWalStaysSmallUnderSteadyWrites) {
  auto& h = start();
  // 16 MiB is journal_size_limit, what a WAL that started over is cut back to; one that
  // never did holds all 24 MiB and more.
  const std::string wal = path_ + "-wal";
  run([](History& h, const std::string& wal) -> Task<void> {
    // 12,000 runs of ~2 KiB each: 24 MiB through the WAL in 600 commits, over ~1.5 s.
    for (int b = 0; b < 600; ++b) {
      for (int i = 0; i < 20; ++i) {
        RunRow r = queued("j" + std::to_string(i));
        r.error = std::string(2000, 'x');
        h.insert_run(r);
      }
      co_await kairos::async::sleep_for(std::chrono::milliseconds(2));
    }
    // On a machine too busy for the checkpoint thread to keep up, the WAL starts over a
    // little later: small commits for up to 5 s more give it the chance. Without
    // checkpoints it never does.
    for (int i = 0; i < 500 && fs::file_size(wal) > (16u << 20); ++i) {
      h.insert_run(queued("late"));
      co_await h.durable();
      co_await kairos::async::sleep_for(std::chrono::milliseconds(10));
    }
    co_await h.durable();
  }(h, wal));
  EXPECT_GE(h.checkpoints(), 2u);
  EXPECT_LE(fs::file_size(wal), 16u << 20) << "the WAL never started over";
  EXPECT_GE(reader_->max_run_id(), 12000);
}

// The writer wakes the loop only while someone waits. Many coroutines writing and waiting in
// turn, on a loop that nothing else keeps alive, exercise both sides of that hand-shake: a
// lost wake-up would leave one of them suspended for good (the fixture then fails).
TEST_F(HistoryTest, EveryWaiterResumesWhenTheWriterOnlyWakesTheLoopForWaiters) {
  auto& h = start();
  int done = 0;
  auto writer = [](History& h, int& done, int k) -> Task<void> {
    for (int i = 0; i < 40; ++i) {
      h.insert_run(queued("w" + std::to_string(k)));
      if ((i + k) % 3 == 0) co_await kairos::async::sleep_for(std::chrono::milliseconds(0));
      co_await h.durable();
    }
    ++done;
  };
  for (int k = 0; k < 50; ++k) scope().spawn(writer(h, done, k));
  run([](History& h) -> Task<void> { co_await h.durable(); }(h));
  EXPECT_EQ(done, 50);
  EXPECT_EQ(reader_->max_run_id(), 2000);
}

TEST_F(HistoryTest, AFailedWriteCostsOnlyItselfNotItsBatch) {
  auto& h = start();
  run([](History& h, Store& read) -> Task<void> {
    AttemptRow orphan;  // no run 999: the foreign key refuses it
    orphan.run_id = 999;
    orphan.attempt = 1;
    orphan.status = RunStatus::running;
    h.insert_attempt(orphan);
    auto id = h.insert_run(queued("a"));
    co_await h.durable();
    EXPECT_TRUE(read.run(id).has_value());
    EXPECT_TRUE(read.attempts(999).empty());
  }(h, *reader_));
}

TEST_F(HistoryTest, CloseCommitsWhatIsQueuedAndWritesAfterItAreNotLost) {
  auto& h = start();
  auto a = h.insert_run(queued("a"));
  JobState st;
  st.job = "a";
  st.anchor = 5;
  h.put_job_state(st);
  h.close();  // no drain ran: close() hands the batch over itself
  auto b = h.insert_run(queued("b"));
  bool went_on = false;  // nothing will commit before the destructor: nobody waits for it
  h.when_durable([&] { went_on = true; });
  EXPECT_TRUE(went_on);
  h_.reset();  // the destructor commits what came after close()
  reader_.reset();
  auto s = open();
  EXPECT_TRUE(s->run(a).has_value());
  EXPECT_TRUE(s->run(b).has_value());
  auto js = s->job_state("a");
  EXPECT_TRUE(js && js->anchor == 5);
}

TEST_F(HistoryTest, FlushBlocksUntilCommittedSoTheReaderSeesEverything) {
  auto& h = start();
  for (int i = 0; i < 1000; ++i) h.insert_run(queued("j" + std::to_string(i % 7)));
  h.flush();
  EXPECT_TRUE(h.settled());
  EXPECT_EQ(reader_->max_run_id(), 1000);
  kairos::store::HistoryFilter f;
  f.job = "j3";
  f.limit = 1000;
  EXPECT_EQ(reader_->history(f).size(), 143u);
  EXPECT_EQ(h.commits(), 1u);  // one batch, one commit
}

}  // namespace

// Issue 6: living with kairosd as a service. Reload (SIGHUP, JSON-RPC, kairosctl, file
// watch) applied as a diff, includes, and the sd_notify conversation with systemd.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include "harness.h"

namespace kairos::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

/// The job's line of `list`, or null.
json job_of(const Daemon& d, const std::string& name) {
  auto r = d.call("list");
  for (const auto& j : r["result"]["jobs"])
    if (j["name"] == name) return j;
  return nullptr;
}

std::optional<Millis> next_fire(const Daemon& d, const std::string& name) {
  auto j = job_of(d, name);
  if (j.is_null() || j["next_fire"].is_null()) return std::nullopt;
  return j["next_fire"].get<Millis>();
}

std::int64_t runs_of(const Daemon& d, const std::string& job, const std::string& extra = "1=1") {
  return d.count("SELECT count(*) FROM runs WHERE job='" + job + "' AND " + extra);
}

bool has_kairosctl() {
  return std::string(KAIROSCTL_PATH).size() > 0;
}

// --- reload as a diff --------------------------------------------------------------------

TEST(Reload, SighupAppliesTheDiffAndLeavesUnchangedJobsAlone) {
  // Hourly intervals: next_fire = anchor + k·interval, a stable value to compare.
  Daemon d(R"(jobs:
  keep: {shell: "true", schedule: {every: 1h}}
  edit: {shell: "true", schedule: {every: 1h}}
  gone: {shell: "true", schedule: {every: 1h}}
)");
  d.start();
  auto keep0 = next_fire(d, "keep"), edit0 = next_fire(d, "edit");
  ASSERT_TRUE(keep0 && edit0);

  d.rewrite_config(R"(jobs:
  keep: {shell: "true", schedule: {every: 1h}}
  edit: {shell: "true", schedule: {every: 20m}}
  fresh: {shell: "echo fresh", schedule: {every: 200ms}}
)");
  d.signal(SIGHUP);
  ASSERT_TRUE(wait_for([&] { return runs_of(d, "fresh", "status='succeeded'") >= 2; })) << d.log();

  EXPECT_EQ(next_fire(d, "keep"), keep0) << "an unchanged job was rescheduled";
  // The edited job keeps its anchor (phase) and gets the new period.
  EXPECT_EQ(next_fire(d, "edit"), *edit0 - 3600000 + 1200000);
  EXPECT_TRUE(job_of(d, "gone").is_null());
  EXPECT_NE(d.log().find("reload (SIGHUP): 1 added, 1 removed, 1 changed, 1 unchanged"),
            std::string::npos)
      << d.log();
  d.stop();
}

TEST(Reload, JsonRpcReportsWhatChanged) {
  Daemon d(R"(jobs:
  a: {shell: "true", schedule: {every: 1h}}
  b: {shell: "true", schedule: {every: 1h}}
  c: {shell: "true", schedule: {cron: "0 3 * * *"}}
)");
  d.start();
  auto a0 = next_fire(d, "a"), c0 = next_fire(d, "c");
  d.rewrite_config(R"(jobs:
  a: {shell: "true", schedule: {every: 1h}}
  b: {shell: "true", schedule: {every: 2h}}
  c: {shell: "true", schedule: {cron: "0 3 * * *"}}
  d: {shell: "true", schedule: {every: 1h}}
)");
  auto r = d.call("reload");
  ASSERT_TRUE(r.contains("result")) << r.dump();
  const auto& res = r["result"];
  EXPECT_EQ(res["ok"], true) << r.dump();
  EXPECT_EQ(res["errors"], json::array());
  EXPECT_EQ(res["added"], json({"d"}));
  EXPECT_EQ(res["changed"], json({"b"}));
  EXPECT_EQ(res["removed"], json::array());
  EXPECT_EQ(res["unchanged"], json({"a", "c"}));
  // Only b was rescheduled.
  EXPECT_EQ(next_fire(d, "a"), a0);
  EXPECT_EQ(next_fire(d, "c"), c0);
  auto b = d.call("show", {{"job", "b"}});
  ASSERT_EQ(b["result"]["next_fires"].size(), 5u) << b.dump();
  EXPECT_EQ(b["result"]["next_fires"][1].get<Millis>() - b["result"]["next_fires"][0].get<Millis>(),
            2 * 3600000);
  d.stop();
}

TEST(Reload, KairosctlReloadPrintsTheDiffOrTheErrors) {
  if (!has_kairosctl()) GTEST_SKIP() << "kairosctl is not built";
  Daemon d(R"(jobs:
  a: {shell: "true", schedule: {every: 1h}}
)");
  d.start();
  d.rewrite_config(R"(jobs:
  a: {shell: "true", schedule: {every: 1h}}
  b: {shell: "true", schedule: {every: 1h}}
)");
  std::string out;
  EXPECT_EQ(d.ctl({"reload"}, &out), 0) << out;
  EXPECT_NE(out.find('b'), std::string::npos) << out;
  EXPECT_FALSE(job_of(d, "b").is_null());

  d.rewrite_config(R"(jobs:
  a: {shell: "true", schedule: {every: 1h}}
  b: {shell: "true", schedule: {evry: 1h}}
)");
  EXPECT_EQ(d.ctl({"reload"}, &out), 1) << out;
  EXPECT_NE(out.find(d.config() + ":4:"), std::string::npos) << out;
  d.stop();
}

// A broken file changes nothing: the old jobs keep firing, and the caller and the log
// both get every error with its file:line:column.
TEST(Reload, BrokenConfigKeepsTheOldJobsFiring) {
  Daemon d(R"(jobs:
  tick:
    shell: "true"
    schedule: {every: 200ms}
)");
  d.start();
  ASSERT_TRUE(wait_for([&] { return runs_of(d, "tick") >= 1; })) << d.log();

  // An unknown key (a typo must not silently drop the schedule).
  d.rewrite_config(R"(jobs:
  tick:
    shell: "true"
    schedul: {every: 1h}
)");
  auto r = d.call("reload");
  ASSERT_EQ(r["result"]["ok"], false) << r.dump();
  std::string err;  // the typo's own diagnostic, among any others
  for (const auto& e : r["result"]["errors"])
    if (e.get<std::string>().rfind(d.config() + ":5:5: ", 0) == 0) err = e;
  ASSERT_FALSE(err.empty()) << "no error at " << d.config() << ":5:5 in " << r.dump();
  EXPECT_NE(d.log().find(err), std::string::npos) << "error not logged:\n" << d.log();

  // Bad YAML, by SIGHUP this time: only the log can tell.
  d.rewrite_config("jobs:\n  tick: {shell: \"true\", schedule: {every: 1h}\n");
  d.signal(SIGHUP);
  ASSERT_TRUE(d.wait_for_log("reload (SIGHUP) refused")) << d.log();
  EXPECT_NE(d.log().find(d.config() + ":"), std::string::npos) << d.log();

  // Still the old 200 ms definition.
  auto before = runs_of(d, "tick");
  EXPECT_TRUE(wait_for([&] { return runs_of(d, "tick") >= before + 3; }))
      << "the old job stopped firing after a refused reload\n"
      << d.log();
  d.stop();
}

TEST(Reload, ChangedJobsRunningRunFinishesUnderItsOldDefinition) {
  Daemon d(R"(jobs:
  v: {shell: "sleep 0.8; echo old", schedule: {every: 1h}}
)");
  d.start();
  ASSERT_TRUE(d.call("run", {{"job", "v"}}).contains("result"));
  ASSERT_TRUE(wait_for([&] { return d.running_runs("v") == 1; })) << d.log();
  d.rewrite_config(R"(jobs:
  v: {shell: "echo new", schedule: {every: 1h}}
)");
  ASSERT_EQ(d.call("reload")["result"]["changed"], json({"v"}));
  ASSERT_TRUE(wait_for([&] { return runs_of(d, "v", "status='succeeded'") == 1; })) << d.log();
  EXPECT_EQ(d.attempts(d.runs("job='v'").at(0).id).at(0).output, "old\n");
  // The next run is the new definition.
  ASSERT_TRUE(d.call("run", {{"job", "v"}}).contains("result"));
  ASSERT_TRUE(wait_for([&] { return runs_of(d, "v", "status='succeeded'") == 2; })) << d.log();
  EXPECT_EQ(d.attempts(d.runs("job='v'").at(1).id).at(0).output, "new\n");
  d.stop();
}

TEST(Reload, RemovedJobsRunningRunFinishesAndIsRecorded) {
  Daemon d(R"(jobs:
  long:
    shell: "sleep 1; echo done"
    schedule: {every: 1500ms}
  other: {shell: "true", schedule: {every: 1h}}
)" + kClockJob);
  d.start();
  ASSERT_TRUE(wait_for([&] { return d.running_runs("long") == 1; })) << d.log();
  d.rewrite_config(R"(jobs:
  other: {shell: "true", schedule: {every: 1h}}
)" + kClockJob);
  auto r = d.call("reload");
  ASSERT_EQ(r["result"]["removed"], json({"long"})) << r.dump();
  EXPECT_TRUE(job_of(d, "long").is_null());
  ASSERT_TRUE(wait_for([&] { return runs_of(d, "long", "status='succeeded'") == 1; })) << d.log();
  auto rows = d.runs("job='long'");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(d.attempts(rows[0].id).at(0).output, "done\n");
  // Past its next firing (its row would be written before the clock's later one): none.
  const Millis would_fire = *rows[0].scheduled_at + 1500;
  ASSERT_TRUE(d.wait_for_rows(
      "job='clock' AND finished_at IS NOT NULL AND scheduled_at > " + std::to_string(would_fire),
      1))
      << d.log();
  EXPECT_EQ(runs_of(d, "long"), 1) << d.log();
  d.stop();
}

TEST(Reload, RemovedJobsRunIsCancelledWithOnRemoveCancel) {
  const std::string marker = own("30.606");
  Daemon d(R"(daemon: {on_remove: cancel}
jobs:
  long:
    shell: "sleep )" +
           marker + R"("
    schedule: {after: 100ms}
    kill_grace: 1s
)");
  d.start();
  ASSERT_TRUE(wait_for([&] { return d.running_runs("long") == 1; })) << d.log();
  d.rewrite_config("daemon: {on_remove: cancel}\njobs: {}\n");
  auto r = d.call("reload");
  ASSERT_EQ(r["result"]["removed"], json({"long"})) << r.dump();
  ASSERT_TRUE(wait_for([&] { return runs_of(d, "long", "status='cancelled'") == 1; }, 5s))
      << d.log();
  EXPECT_FALSE(process_exists("sleep " + marker));
  d.stop();
}

TEST(Reload, PauseSurvivesReloadOfUnchangedAndChangedJobs) {
  Daemon d(R"(jobs:
  same: {shell: "true", schedule: {every: 200ms}}
  edited: {shell: "true", schedule: {every: 200ms}}
)" + kClockJob);
  d.start();
  ASSERT_EQ(d.call("pause", {{"job", "same"}})["result"]["state"], "paused");
  ASSERT_EQ(d.call("pause", {{"job", "edited"}})["result"]["state"], "paused");
  d.rewrite_config(R"(jobs:
  same: {shell: "true", schedule: {every: 200ms}}
  edited: {shell: "true", schedule: {every: 300ms}}
  added: {shell: "true", schedule: {every: 1h}}
)" + kClockJob);
  ASSERT_EQ(d.call("reload")["result"]["ok"], true);
  EXPECT_EQ(job_of(d, "same")["state"], "paused");
  EXPECT_EQ(job_of(d, "edited")["state"], "paused");
  const std::string paused = "SELECT count(*) FROM runs WHERE job != 'clock'";
  // A firing written ahead before the pause came is deleted at its instant, before the
  // clock's next firing is recorded.
  ASSERT_TRUE(d.wait_for_firings("clock", 2)) << d.log();
  auto before = d.count(paused);
  ASSERT_TRUE(d.wait_for_firings("clock", 6)) << d.log();  // 1 s of firings
  EXPECT_EQ(d.count(paused), before) << "a paused job fired after reload";
  d.stop();
}

// Editors save by writing a temp file and renaming it over the original; a watch on the
// file itself would lose track after the first save.
TEST(Reload, WatchReloadsWhenAFileIsRenamedIntoPlace) {
  Daemon d(R"(daemon: {watch: true}
jobs:
  a: {shell: "true", schedule: {every: 1h}}
)");
  d.dir().write("jobs.d/more.yaml", "jobs:\n  b: {shell: \"true\", schedule: {every: 1h}}\n");
  d.start();
  ASSERT_FALSE(job_of(d, "b").is_null());

  d.rewrite_config(R"(daemon: {watch: true}
jobs:
  a: {shell: "true", schedule: {every: 1h}}
  c: {shell: "true", schedule: {every: 1h}}
)");
  ASSERT_TRUE(wait_for([&] { return !job_of(d, "c").is_null(); }, 5s)) << d.log();
  EXPECT_NE(d.log().find("reload (file change)"), std::string::npos);

  // Again (the watch survives a rename), now in an included file.
  d.dir().write("jobs.d/.more.yaml.swp",
                "jobs:\n  b: {shell: \"true\", schedule: {every: 1h}}\n  e: {shell: \"true\", "
                "schedule: {every: 1h}}\n");
  std::filesystem::rename(d.dir().file("jobs.d/.more.yaml.swp"), d.dir().file("jobs.d/more.yaml"));
  ASSERT_TRUE(wait_for([&] { return !job_of(d, "e").is_null(); }, 5s)) << d.log();
  EXPECT_FALSE(job_of(d, "c").is_null());
  d.stop();
}

TEST(Reload, WatchSeesTheFirstFileInAnEmptyIncludeDir) {
  Daemon d(R"(daemon: {watch: true}
jobs:
  a: {shell: "true", schedule: {every: 1h}}
)");
  std::filesystem::create_directories(d.dir().file("jobs.d"));
  d.start();
  // The socket accepts (backlog) before the loop runs; an answer means the watch is set.
  ASSERT_FALSE(job_of(d, "a").is_null());
  d.dir().write("jobs.d/new.yaml.tmp", "jobs:\n  n: {shell: \"true\", schedule: {every: 1h}}\n");
  std::filesystem::rename(d.dir().file("jobs.d/new.yaml.tmp"), d.dir().file("jobs.d/new.yaml"));
  ASSERT_TRUE(wait_for([&] { return !job_of(d, "n").is_null(); }, 5s)) << d.log();
  d.stop();
}

TEST(Includes, DuplicateJobAcrossFilesNamesBothAndRefusesToStart) {
  Daemon d(R"(jobs:
  solo: {shell: "true", schedule: {every: 1h}}
)");
  d.dir().write("jobs.d/a.yaml", "jobs:\n  dup: {shell: \"true\", schedule: {every: 1h}}\n");
  d.dir().write("jobs.d/b.yaml",
                "# second\njobs:\n  dup: {shell: \"true\", schedule: {every: 2h}}\n");
  d.start(/*wait_ready=*/false);
  int rc = d.wait_exit(10s);
  EXPECT_NE(rc, 0) << d.log();
  EXPECT_NE(rc, -1) << "kairosd did not exit";
  const std::string expected = d.dir().file("jobs.d/b.yaml") +
                               ":3:3: duplicate job 'dup' (first defined at " +
                               d.dir().file("jobs.d/a.yaml") + ":2:3)";
  EXPECT_NE(d.log().find(expected), std::string::npos) << d.log();
}

// --- sd_notify ---------------------------------------------------------------------------

/// A fake systemd: the datagram socket NOTIFY_SOCKET names, read by a thread.
class NotifySocket {
 public:
  struct Msg {
    std::chrono::steady_clock::time_point at;
    std::string text;
    bool control_socket_up = false;  // whether the control socket accepted a connection
  };

  NotifySocket(std::string path, std::string control)
      : path_(std::move(path)), control_(std::move(control)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("bind " + path_);
    reader_ = std::thread([this] { read_loop(); });
  }
  ~NotifySocket() {
    done_ = true;
    reader_.join();
    ::close(fd_);
  }

  std::vector<Msg> messages() const {
    std::lock_guard lock(mu_);
    return msgs_;
  }
  /// Index of the first message at or after `from` containing `needle`, or -1.
  int find(const std::string& needle, std::size_t from = 0) const {
    auto m = messages();
    for (std::size_t i = from; i < m.size(); ++i)
      if (m[i].text.find(needle) != std::string::npos) return static_cast<int>(i);
    return -1;
  }
  std::size_t size() const { return messages().size(); }

 private:
  bool control_accepts() const {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", control_.c_str());
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
  }
  void read_loop() {
    while (!done_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) continue;
      Msg m{std::chrono::steady_clock::now(), std::string(buf, static_cast<std::size_t>(n))};
      // Checked right away: READY=1 must mean "kairosctl works now".
      if (m.text.find("READY=1") != std::string::npos) m.control_socket_up = control_accepts();
      std::lock_guard lock(mu_);
      msgs_.push_back(std::move(m));
    }
  }

  std::string path_, control_;
  int fd_ = -1;
  std::atomic<bool> done_{false};
  mutable std::mutex mu_;
  std::vector<Msg> msgs_;
  std::thread reader_;
};

TEST(Notify, ReadyReloadingWatchdogAndStoppingReachSystemd) {
  Daemon d(R"(jobs:
  tick: {shell: "true", schedule: {every: 1h}}
)");
  NotifySocket sd(d.dir().file("notify.sock"), d.socket());
  ::unsetenv("WATCHDOG_PID");  // as systemd sets it for the main process: absent = "you"
  d.start(/*wait_ready=*/false,
          {"NOTIFY_SOCKET=" + d.dir().file("notify.sock"), "WATCHDOG_USEC=200000"});

  ASSERT_TRUE(wait_for([&] { return sd.find("READY=1") >= 0; }, 10s)) << d.log();
  auto msgs = sd.messages();
  const auto& ready = msgs.at(static_cast<std::size_t>(sd.find("READY=1")));
  EXPECT_TRUE(ready.control_socket_up) << "READY=1 before the control socket accepts connections";
  EXPECT_NE(ready.text.find("STATUS=1 jobs"), std::string::npos) << ready.text;

  // WATCHDOG_USEC=200ms → a ping every 100 ms.
  EXPECT_TRUE(d.wait_for_log("systemd watchdog: ping every 100ms")) << d.log();
  std::vector<std::chrono::steady_clock::time_point> pings;
  ASSERT_TRUE(wait_for([&] {
    pings.clear();
    for (const auto& m : sd.messages())
      if (m.text == "WATCHDOG=1") pings.push_back(m.at);
    return pings.size() >= 6;
  })) << "watchdog pings: "
      << pings.size();
  // The mean period, not each gap: a loaded test machine may delay one ping. Within
  // WATCHDOG_USEC, as systemd needs, and not a flood.
  auto mean = (pings.back() - pings.front()) / static_cast<int>(pings.size() - 1);
  EXPECT_GT(mean, 50ms);
  EXPECT_LT(mean, 200ms);

  // Reload: RELOADING=1 (with the monotonic time systemd wants), then READY=1 again.
  std::size_t mark = sd.size();
  d.signal(SIGHUP);
  ASSERT_TRUE(wait_for([&] {
    int r = sd.find("RELOADING=1", mark);
    return r >= 0 && sd.find("READY=1", static_cast<std::size_t>(r) + 1) >= 0;
  })) << d.log();
  msgs = sd.messages();
  EXPECT_NE(
      msgs[static_cast<std::size_t>(sd.find("RELOADING=1", mark))].text.find("MONOTONIC_USEC="),
      std::string::npos);

  // A refused reload also ends with READY=1: the old configuration is running.
  d.rewrite_config("jobs: {tick: {shell: 1\n");
  mark = sd.size();
  d.signal(SIGHUP);
  ASSERT_TRUE(wait_for([&] {
    int r = sd.find("RELOADING=1", mark);
    return r >= 0 && sd.find("READY=1", static_cast<std::size_t>(r) + 1) >= 0;
  })) << d.log();

  mark = sd.size();
  d.signal(SIGTERM);
  EXPECT_EQ(d.wait_exit(), 0) << d.log();
  EXPECT_GE(sd.find("STOPPING=1", mark), 0) << d.log();
}

TEST(Notify, WithoutNotifySocketNothingIsSentAndNoWatchdogRuns) {
  // Outside systemd the same binary runs in a terminal: no pings, no complaints.
  Daemon d(R"(jobs:
  tick: {shell: "true", schedule: {every: 1h}}
)" + kClockJob);
  d.start(true, {"WATCHDOG_USEC=200000"});
  // Past start-up (an answer) and several would-be watchdog periods (100 ms).
  ASSERT_TRUE(d.call("status").contains("result"));
  ASSERT_TRUE(d.wait_for_firings("clock", 3)) << d.log();
  d.stop();
  EXPECT_EQ(d.log().find("watchdog"), std::string::npos) << d.log();
}

}  // namespace
}  // namespace kairos::testing

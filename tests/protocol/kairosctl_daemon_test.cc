// kairosctl against the real kairosd: a daemon is started per test on a temporary
// config and socket, and the real kairosctl binary drives it. Covers what the fake
// cannot: overlap refusal, cancel, pause, history of real runs, concurrency, the
// malformed corpus and access control end to end.
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "protocol/jsonrpc.h"
#include "server_harness.h"

namespace {

namespace fs = std::filesystem;
using kairos::testing::LineClient;
using kairos::testing::wait_for;
using nlohmann::json;

struct Result {
  int code = -1;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kairosd-ctl-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    fs::permissions(dir_, fs::perms::all);
    socket_ = (dir_ / "kairosd.sock").string();
    group* g = ::getgrgid(::getegid());
    std::ofstream(dir_ / "kairos.yaml")
        << "version: 1\n"
        << "daemon:\n"
        << "  socket: " << socket_ << "\n"
        << "  socket_mode: \"0666\"\n"
        << "  socket_group: " << (g ? g->gr_name : "root") << "\n"
        << "  database: " << (dir_ / "history.db").string() << "\n"
        << "  include: []\n"
        << "  shutdown_grace: 1s\n"
        << "jobs:\n"
        << "  ok:\n    command: [/bin/echo, hello]\n    schedule: {every: 1h}\n"
        << "  bad:\n    shell: \"echo oops; exit 2\"\n    schedule: {every: 1h}\n"
        << "    retry: {attempts: 2, backoff: 50ms}\n"
        << "  slow:\n    command: [/bin/sleep, \"30\"]\n    schedule: {every: 1h}\n"
        << "    concurrency: forbid\n    kill_grace: 1s\n";
    daemon_ = ::fork();
    ASSERT_GE(daemon_, 0);
    if (daemon_ == 0) {
      std::string log = (dir_ / "kairosd.log").string();
      if (!std::freopen(log.c_str(), "w", stderr)) ::_exit(126);
      std::string cfg = (dir_ / "kairos.yaml").string();
      ::execl(KAIROSD_PATH, KAIROSD_PATH, "--config", cfg.c_str(), nullptr);
      ::_exit(127);
    }
    ASSERT_TRUE(wait_for([&] {
      LineClient c;
      return c.connect(socket_) == 0;
    })) << slurp(dir_ / "kairosd.log");
  }
  void TearDown() override {
    if (daemon_ > 0) {
      ::kill(daemon_, SIGTERM);
      int st = 0;
      ::waitpid(daemon_, &st, 0);
      EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << slurp(dir_ / "kairosd.log");
    }
    fs::remove_all(dir_);
  }

  Result run(const std::string& args) {
    std::string cmd = std::string("env -u COLUMNS NO_COLOR=1 TZ=UTC KAIROS_SOCKET='") + socket_ +
                      "' " + KAIROSCTL_PATH + " " + args + " >'" + (dir_ / "out").string() +
                      "' 2>'" + (dir_ / "err").string() + "' </dev/null";
    int st = std::system(cmd.c_str());
    Result r;
    r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.out = slurp(dir_ / "out");
    r.err = slurp(dir_ / "err");
    return r;
  }
  json run_json(const std::string& args) {
    Result r = run(args + " --json");
    return json::parse(r.out, nullptr, false);
  }

  fs::path dir_;
  std::string socket_;
  pid_t daemon_ = -1;
};

TEST_F(DaemonTest, RunWaitExitsWithTheJobsResult) {
  Result ok = run("run --wait ok");
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_NE(ok.out.find("succeeded"), std::string::npos) << ok.out;
  Result bad = run("run --wait bad");
  EXPECT_EQ(bad.code, 1) << bad.out;
  EXPECT_NE(bad.err.find("failed: exit 2 after 2 attempts"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("oops"), std::string::npos) << bad.err;
  json j = run_json("run --wait bad");
  EXPECT_EQ(j["status"], "failed");
  EXPECT_EQ(j["exit_code"], 2);
}

TEST_F(DaemonTest, ForbidRefusesNamingTheRunThenCancel) {
  json first = run_json("run slow");
  ASSERT_TRUE(first.contains("id")) << first.dump();
  std::string id = std::to_string(first["id"].get<long>());
  Result again = run("run slow");
  EXPECT_EQ(again.code, 1);
  EXPECT_NE(again.err.find("run " + id), std::string::npos) << again.err;
  Result c = run("cancel slow");
  EXPECT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "cancelled run " + id + "\n");
  ASSERT_TRUE(wait_for([&] {
    json h = run_json("history slow --status cancelled");
    return h.contains("runs") && h["runs"].size() == 1;
  }));
}

TEST_F(DaemonTest, PauseAndResumeChangeListState) {
  EXPECT_EQ(run("pause ok").out, "paused ok\n");
  json l = run_json("list");
  for (const auto& j : l["jobs"]) {
    if (j["name"] == "ok") {
      EXPECT_EQ(j["state"], "paused");
      EXPECT_TRUE(j["next_fire"].is_null());
    }
  }
  EXPECT_EQ(run("resume ok").out, "resumed ok\n");
  l = run_json("list");
  for (const auto& j : l["jobs"]) {
    if (j["name"] == "ok") {
      EXPECT_EQ(j["state"], "active");
    }
  }
}

TEST_F(DaemonTest, HistoryFiltersAndLogs) {
  ASSERT_EQ(run("run --wait ok").code, 0);
  ASSERT_EQ(run("run --wait bad").code, 1);
  ASSERT_EQ(run("run --wait ok").code, 0);
  EXPECT_EQ(run_json("history")["runs"].size(), 3u);
  EXPECT_EQ(run_json("history ok")["runs"].size(), 2u);
  EXPECT_EQ(run_json("history --status failed")["runs"].size(), 1u);
  EXPECT_EQ(run_json("history --limit 1")["runs"].size(), 1u);
  EXPECT_EQ(run_json("history --since 1h")["runs"].size(), 3u);
  EXPECT_EQ(run_json("history --since 2099-01-01T00:00:00Z")["runs"].size(), 0u);
  long bad_id = run_json("history --status failed")["runs"][0]["id"].get<long>();
  Result logs = run("logs " + std::to_string(bad_id));
  EXPECT_EQ(logs.code, 0);
  EXPECT_NE(logs.out.find("attempt 2/2"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("oops"), std::string::npos);
}

// A run's start may reach the database late; the CLI shows it from the daemon's live view
// at once.
TEST_F(DaemonTest, AJustStartedRunIsRunningInHistoryAndLogsAtOnce) {
  json started = run_json("run slow");
  ASSERT_TRUE(started.contains("id")) << started.dump();
  long id = started["id"].get<long>();
  ASSERT_TRUE(wait_for([&] {
    json h = run_json("history slow --status running");
    return h.contains("runs") && h["runs"].size() == 1 && h["runs"][0]["id"] == id;
  }));
  EXPECT_EQ(run_json("history slow --status queued")["runs"].size(), 0u);
  json logs = run_json("logs " + std::to_string(id));
  ASSERT_EQ(logs["attempts"].size(), 1u) << logs.dump();
  EXPECT_EQ(logs["attempts"][0]["status"], "running") << logs.dump();
  EXPECT_EQ(logs["attempts"][0]["attempt"], 1) << logs.dump();
  json show = run_json("show slow");
  ASSERT_FALSE(show["recent_runs"].empty()) << show.dump();
  EXPECT_EQ(show["recent_runs"][0]["status"], "running") << show.dump();
  EXPECT_EQ(run("cancel slow").code, 0);
}

TEST_F(DaemonTest, EveryCommandPrintsOneJsonDocument) {
  for (const char* cmd : {"status", "list", "show ok", "history", "reload", "next --job ok",
                          "pause ok", "resume ok", "cancel ok", "show nope"}) {
    Result r = run(std::string(cmd) + " --json");
    json j = json::parse(r.out, nullptr, false);
    EXPECT_TRUE(j.is_object()) << cmd << ": " << r.out << r.err;
  }
  Result human = run("show ok");
  EXPECT_EQ(human.code, 0);
  EXPECT_NE(human.out.find("Next firings"), std::string::npos);
}

TEST_F(DaemonTest, FiftyClientsOfAHundredRequests) {
  constexpr int kClients = 50, kRequests = 100;
  std::atomic<int> answered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      LineClient c;
      if (c.connect(socket_) != 0) return;
      for (int i = 0; i < kRequests; ++i) {
        int id = t * 1000 + i;
        const char* method = i % 3 == 0 ? "status" : i % 3 == 1 ? "list" : "history";
        if (!c.send(kairos::protocol::encode_request(id, method, nullptr))) return;
        auto line = c.read_line();
        if (!line) return;
        json r = json::parse(*line, nullptr, false);
        if (r["id"] == id && r.contains("result")) ++answered;
      }
    });
  }
  // Jobs run meanwhile.
  for (int i = 0; i < 5; ++i) run("run ok");
  for (auto& th : threads) th.join();
  EXPECT_EQ(answered.load(), kClients * kRequests);
}

TEST_F(DaemonTest, MalformedCorpusThenStatusStillAnswers) {
  int files = 0;
  for (const auto& entry : fs::directory_iterator(KAIROS_REQUEST_CORPUS_DIR)) {
    std::string body = slurp(entry.path());
    if (!body.empty() && body.back() == '\n') body.pop_back();
    LineClient c;
    ASSERT_EQ(c.connect(socket_), 0);
    ASSERT_TRUE(c.send(body + "\n"));
    json r = json::parse(c.read_line().value_or(""), nullptr, false);
    EXPECT_TRUE(r.contains("error")) << entry.path();
    ++files;
  }
  EXPECT_GT(files, 0);
  LineClient big;
  ASSERT_EQ(big.connect(socket_), 0);
  big.send(std::string(kairos::protocol::kMaxLineBytes + 1, 'x'));
  json r = json::parse(big.read_line().value_or(""), nullptr, false);
  EXPECT_EQ(r["error"]["code"], -32005);
  EXPECT_TRUE(big.wait_closed());
  EXPECT_EQ(run("status").code, 0);
}

TEST_F(DaemonTest, PeerOutsideTheGroupIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a client as nobody";
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(10);
    std::string cmd = std::string(KAIROSCTL_PATH) + " --socket '" + socket_ + "' status";
    int st = std::system((cmd + " >/dev/null 2>&1").c_str());
    ::_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 99);
  }
  int st = 0;
  ASSERT_EQ(::waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 3) << "refused peers get exit 3 (10 = setuid failed)";
  EXPECT_NE(slurp(dir_ / "kairosd.log").find("refused"), std::string::npos);
  EXPECT_EQ(run("status").code, 0);
}

}  // namespace

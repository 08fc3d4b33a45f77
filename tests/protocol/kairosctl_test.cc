// Runs the real kairosctl binary: offline commands (validate, next), exit code 3 when
// no daemon listens, and every daemon command against fake_kairosd (canned answers
// through the real ControlServer), in human and --json form.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>

#include "server_harness.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

class KairosctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kairosctl-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    socket_ = (dir_ / "kairosd.sock").string();
  }
  void TearDown() override {
    stop_fake();
    fs::remove_all(dir_);
  }

  /// Runs kairosctl with `args` (shell words), KAIROS_SOCKET set to our socket, no colour.
  Result run(const std::string& args, const std::string& env = "",
             const std::string& stdin_file = "") {
    std::string cmd =
        "env -u KAIROS_SOCKET -u COLUMNS TZ=UTC NO_COLOR=1 KAIROS_SOCKET=" + quote(socket_) + " " +
        env + " " + KAIROSCTL_PATH + " " + args + " >" + quote((dir_ / "out").string()) + " 2>" +
        quote((dir_ / "err").string()) +
        (stdin_file.empty() ? " </dev/null" : " <" + quote(stdin_file));
    int st = std::system(cmd.c_str());
    Result r;
    r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.out = slurp(dir_ / "out");
    r.err = slurp(dir_ / "err");
    return r;
  }

  void start_fake(const std::string& env_var = "") {
    fake_ = ::fork();
    ASSERT_GE(fake_, 0);
    if (fake_ == 0) {
      if (!env_var.empty()) ::setenv(env_var.c_str(), "1", 1);
      ::execl(FAKE_KAIROSD_PATH, FAKE_KAIROSD_PATH, socket_.c_str(), nullptr);
      ::_exit(127);
    }
    ASSERT_TRUE(kairos::testing::wait_for([&] {
      kairos::testing::LineClient c;
      return c.connect(socket_) == 0;
    })) << "fake_kairosd did not come up";
  }
  void stop_fake() {
    if (fake_ <= 0) return;
    ::kill(fake_, SIGTERM);
    int st = 0;
    ::waitpid(fake_, &st, 0);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "fake_kairosd left handles open";
    fake_ = -1;
  }

  std::string write_file(const std::string& name, const std::string& text) {
    fs::path p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }

  fs::path dir_;
  std::string socket_;
  pid_t fake_ = -1;
};

json parse_one(const std::string& out) {
  // Exactly one JSON document: parse() rejects trailing garbage.
  return json::parse(out, nullptr, false);
}

// --- offline ---------------------------------------------------------------------

TEST_F(KairosctlTest, ValidateGoodFile) {
  std::string f = write_file("good.yaml",
                             "version: 1\n"
                             "jobs:\n"
                             "  hello:\n"
                             "    command: [/bin/echo, hi]\n"
                             "    schedule: {every: 5m}\n"
                             "  nightly:\n"
                             "    shell: \"true\"\n"
                             "    schedule: {cron: \"30 2 * * *\", timezone: Europe/Berlin}\n");
  Result r = run("validate " + quote(f));
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, f + ": OK, 2 jobs\n");
  Result j = run("validate --json " + quote(f));
  EXPECT_EQ(j.code, 0);
  json doc = parse_one(j.out);
  EXPECT_EQ(doc["ok"], true);
  EXPECT_EQ(doc["jobs"], 2);
}

TEST_F(KairosctlTest, ValidateBadFileListsLocatedErrors) {
  std::string f = write_file("bad.yaml",
                             "version: 1\n"
                             "jobs:\n"
                             "  hello:\n"
                             "    command: [/bin/echo, hi]\n"
                             "    shedule: {every: 5m}\n");
  Result r = run("validate " + quote(f));
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find(f + ":5:5: unknown key 'shedule'"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("error"), std::string::npos);
  Result j = run("--json validate " + quote(f));
  EXPECT_EQ(j.code, 1);
  json doc = parse_one(j.out);
  ASSERT_TRUE(doc.is_object()) << j.out;
  EXPECT_EQ(doc["ok"], false);
  ASSERT_FALSE(doc["errors"].empty());
  bool found = false;
  for (const auto& e : doc["errors"]) found |= e["line"] == 5 && e["column"] == 5;
  EXPECT_TRUE(found) << j.out;
}

TEST_F(KairosctlTest, ValidateMissingFileFailsAndStdinWorks) {
  Result r = run("validate " + quote((dir_ / "nope.yaml").string()));
  EXPECT_EQ(r.code, 1);
  std::string f = write_file(
      "in.yaml", "version: 1\njobs:\n  a:\n    command: [/bin/true]\n    schedule: {after: 1s}\n");
  Result s = run("validate -", "", f);
  EXPECT_EQ(s.code, 0) << s.out << s.err;
  EXPECT_EQ(s.out, "<stdin>: OK, 1 job\n");
}

TEST_F(KairosctlTest, NextCronAcrossSpringForward) {
  Result r = run("next '30 2 * * *' --tz Europe/Berlin --after 2026-03-28T12:00:00Z --count 3");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "2026-03-29T03:00:00+02:00\n"
            "2026-03-30T02:30:00+02:00\n"
            "2026-03-31T02:30:00+02:00\n");
}

TEST_F(KairosctlTest, NextIsStrictlyAfterAndDefaultsToFive) {
  Result r = run("next '0 * * * *' --tz UTC --after 2026-01-01T10:00:00Z");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "2026-01-01T11:00:00+00:00\n2026-01-01T12:00:00+00:00\n2026-01-01T13:00:00+00:00\n"
            "2026-01-01T14:00:00+00:00\n2026-01-01T15:00:00+00:00\n");
  Result j = run("next '0 * * * *' --tz UTC --after 2026-01-01T10:00:00Z -n 2 --json");
  json doc = parse_one(j.out);
  EXPECT_EQ(doc["fires"], json({"2026-01-01T11:00:00+00:00", "2026-01-01T12:00:00+00:00"}));
  EXPECT_EQ(doc["timezone"], "UTC");
}

TEST_F(KairosctlTest, NextWithoutAfterStartsNow) {
  Result r = run("next '* * * * *' --tz UTC -n 1");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out.size(), std::string("2026-01-01T11:00:00+00:00\n").size()) << r.out;
}

TEST_F(KairosctlTest, NextUsageErrorsExitTwo) {
  Result bad = run("next '0 0 * * 8'");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("day-of-week"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("column"), std::string::npos) << bad.err;
  EXPECT_EQ(run("next '0 0 30 2 *'").code, 2);
  EXPECT_EQ(run("next '* * * * *' --tz Mars/Olympus").code, 2);
  EXPECT_EQ(run("next '* * * * *' --after yesterday").code, 2);
  EXPECT_EQ(run("next").code, 2);
  EXPECT_EQ(run("next '* * * * *' --count 0").code, 2);
  EXPECT_EQ(run("next '* * * * *' --job x").code, 2);
}

TEST_F(KairosctlTest, UsageErrorsAndHelp) {
  EXPECT_EQ(run("").code, 2);
  EXPECT_EQ(run("frobnicate").code, 2);
  EXPECT_EQ(run("show").code, 2);
  EXPECT_EQ(run("history --status bogus").code, 2);
  EXPECT_EQ(run("logs notanumber").code, 2);
  for (const char* cmd : {"status", "list", "show", "run", "cancel", "pause", "resume", "history",
                          "logs", "reload", "validate", "next"}) {
    Result h = run(std::string(cmd) + " --help");
    EXPECT_EQ(h.code, 0) << cmd;
    EXPECT_NE(h.out.find("Example:"), std::string::npos) << cmd << ": " << h.out;
  }
  Result top = run("--help");
  EXPECT_EQ(top.code, 0);
  EXPECT_NE(top.out.find("Exit codes"), std::string::npos);
}

TEST_F(KairosctlTest, UnreachableDaemonExitsThreeWithAdvice) {
  for (const char* cmd : {"status", "list", "show a", "run a", "cancel 1", "pause a", "resume a",
                          "history", "logs 1", "reload", "next --job a"}) {
    Result r = run(cmd);
    EXPECT_EQ(r.code, 3) << cmd;
    EXPECT_EQ(r.err, "kairosctl: cannot reach kairosd at " + socket_ +
                         ": No such file or directory \xe2\x80\x94 is kairosd running? (set "
                         "--socket or KAIROS_SOCKET)\n")
        << cmd;
  }
  Result j = run("status --json");
  EXPECT_EQ(j.code, 3);
  EXPECT_EQ(parse_one(j.out)["error"]["kind"], "unreachable");
  // --socket beats the environment.
  Result s = run("--socket /nonexistent/k.sock status");
  EXPECT_NE(s.err.find("/nonexistent/k.sock"), std::string::npos);
}

// --- against fake_kairosd ----------------------------------------------------------

TEST_F(KairosctlTest, StatusHumanAndJson) {
  start_fake();
  Result r = run("status");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("kairosd 0.1.0 (pid 4242), up 3h12m"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("jobs     3 (1 paused)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("next     heartbeat in 4m"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find('\033'), std::string::npos);  // NO_COLOR, and not a TTY anyway
  Result j = run("status --json");
  json doc = parse_one(j.out);
  EXPECT_EQ(doc["pid"], 4242);
  EXPECT_EQ(doc["running_runs"][0]["id"], 41);
}

TEST_F(KairosctlTest, ListTableShowsLastResultAndNext) {
  start_fake();
  Result r = run("list");
  EXPECT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string header, backup, heartbeat, warm;
  std::getline(lines, header);
  std::getline(lines, backup);
  std::getline(lines, heartbeat);
  std::getline(lines, warm);
  EXPECT_EQ(header.rfind("NAME", 0), 0u) << r.out;
  EXPECT_NE(backup.find("failed 3m ago, exit 2"), std::string::npos) << r.out;
  // The fake's clock started a moment before: allow a few seconds of test slowness.
  EXPECT_TRUE(std::regex_search(heartbeat, std::regex("succeeded 1[1-9]s ago"))) << r.out;
  EXPECT_NE(backup.find("cron 30 2 * * * (Europe/Berlin)"), std::string::npos);
  EXPECT_NE(heartbeat.find("paused"), std::string::npos);
  EXPECT_NE(warm.find("never run"), std::string::npos);
  // The clock time is "HH:MM:SS" when the firing is later today, "Ddd HH:MM" when the
  // 30 s cross midnight (format_test pins both forms down on fixed instants).
  EXPECT_TRUE(std::regex_search(
      warm, std::regex("in [12][0-9]s \\((\\d\\d:\\d\\d:\\d\\d|[A-Z][a-z]{2} \\d\\d:\\d\\d)\\)")))
      << warm;
  // Aligned: every column starts at the same offset in every row.
  auto col = header.find("STATE");
  EXPECT_EQ(backup.substr(col, 7), "running");
  EXPECT_EQ(heartbeat.substr(col, 6), "paused");
  Result j = run("list --json");
  json doc = parse_one(j.out);
  ASSERT_EQ(doc["jobs"].size(), 3u);
  EXPECT_EQ(doc["jobs"][0]["last"]["exit_code"], 2);
  EXPECT_TRUE(doc["jobs"][1]["next_fire"].is_null());
}

TEST_F(KairosctlTest, ListFitsTheTerminalWidth) {
  start_fake();
  Result r = run("list", "COLUMNS=60");
  EXPECT_EQ(r.code, 0);
  std::istringstream lines(r.out);
  for (std::string l; std::getline(lines, l);) {
    std::size_t width = 0;
    for (unsigned char c : l) width += (c & 0xC0) != 0x80;
    EXPECT_LE(width, 60u) << l;
  }
  EXPECT_NE(r.out.find("\xe2\x80\xa6"), std::string::npos) << "long cells are cut with an ellipsis";
}

TEST_F(KairosctlTest, ShowJob) {
  start_fake();
  Result r = run("show nightly-backup");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("description  Full database dump"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sh -c 'pg_dump app | zstd > /srv/backup/app.sql.zst'"), std::string::npos);
  EXPECT_NE(r.out.find("4 attempts, backoff 30s x2 up to 10m"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Next firings"), std::string::npos);
  EXPECT_NE(r.out.find("+01:00"), std::string::npos) << "next firings in the job's zone";
  EXPECT_NE(r.out.find("exit 2 after 3 attempts"), std::string::npos);
  Result missing = run("show nope");
  EXPECT_EQ(missing.code, 1);
  EXPECT_EQ(missing.err, "kairosctl: no job named 'nope'\n");
  Result j = run("--json show nightly-backup");
  EXPECT_EQ(parse_one(j.out)["concurrency"], "forbid");
  Result jm = run("--json show nope");
  EXPECT_EQ(jm.code, 1);
  EXPECT_EQ(parse_one(jm.out)["error"]["code"], -32001);
}

TEST_F(KairosctlTest, RunStartsAndConflictNamesTheRunningRun) {
  start_fake();
  Result r = run("run ok");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "started run 43 of ok (running)\n");
  Result busy = run("run busy");
  EXPECT_EQ(busy.code, 1);
  EXPECT_NE(busy.err.find("run 40"), std::string::npos) << busy.err;
  EXPECT_NE(busy.err.find("--force"), std::string::npos);
  EXPECT_EQ(run("run --force busy").code, 0);
  Result jb = run("run busy --json");
  EXPECT_EQ(parse_one(jb.out)["error"]["data"]["run_id"], 40);
}

TEST_F(KairosctlTest, RunWaitExitCodes) {
  start_fake();
  Result ok = run("run --wait ok");
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_NE(ok.out.find("succeeded"), std::string::npos);
  Result bad = run("run --wait bad");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("failed: exit 2 after 3 attempts"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("connection refused (attempt 3)"), std::string::npos) << bad.err;
  Result jb = run("run --wait bad --json");
  EXPECT_EQ(jb.code, 1);
  EXPECT_EQ(parse_one(jb.out)["status"], "failed");
}

TEST_F(KairosctlTest, CancelPauseResume) {
  start_fake();
  EXPECT_EQ(run("cancel 41").out, "cancelled run 41\n");
  EXPECT_EQ(run("cancel nightly-backup").out, "cancelled run 41\n");
  EXPECT_EQ(run("cancel heartbeat").out, "no active run of heartbeat; nothing cancelled\n");
  EXPECT_EQ(run("cancel 999").code, 1);
  EXPECT_EQ(run("pause nightly-backup").out, "paused nightly-backup\n");
  EXPECT_EQ(run("pause heartbeat").out, "heartbeat was already paused\n");
  EXPECT_EQ(run("resume heartbeat").out, "resumed heartbeat\n");
  EXPECT_EQ(run("pause missing").code, 1);
  EXPECT_EQ(parse_one(run("pause heartbeat --json").out)["state"], "paused");
}

TEST_F(KairosctlTest, HistoryFilters) {
  start_fake();
  Result all = run("history");
  EXPECT_EQ(all.code, 0) << all.err;
  EXPECT_NE(all.out.find(" 41 "), std::string::npos);
  EXPECT_NE(all.out.find(" 37 "), std::string::npos);
  json failed = parse_one(run("history --status failed --json").out);
  ASSERT_EQ(failed["runs"].size(), 1u);
  EXPECT_EQ(failed["runs"][0]["id"], 38);
  json hb = parse_one(run("history heartbeat --json").out);
  ASSERT_EQ(hb["runs"].size(), 1u);
  json recent = parse_one(run("history --since 1m --json").out);
  EXPECT_EQ(recent["runs"].size(), 1u) << "only run 37 started within the last minute";
  json lim = parse_one(run("history -n 2 --json").out);
  EXPECT_EQ(lim["runs"].size(), 2u);
  EXPECT_EQ(run("history --since 2026-11-24T08:00:00+01:00").code, 0);
  EXPECT_EQ(run("history --since sometime").code, 2);
  EXPECT_EQ(run("history nobody").out, "no runs\n");
}

TEST_F(KairosctlTest, LogsPrintsEachAttemptWithHeader) {
  start_fake();
  Result r = run("logs 42");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("=== run 42 (nightly-backup) attempt 1/3: failed, exit 2"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("attempt 3/3"), std::string::npos);
  EXPECT_NE(r.out.find("[earlier output truncated]"), std::string::npos);
  EXPECT_NE(r.out.find("connection refused (attempt 2)"), std::string::npos);
  json j = parse_one(run("logs 42 --json").out);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["attempts"].size(), 3u);
  EXPECT_EQ(run("logs 7").code, 1);
}

TEST_F(KairosctlTest, ReloadOkAndFailed) {
  start_fake();
  Result r = run("reload");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "reloaded: 1 added (new-job), 0 removed, 1 changed (heartbeat), 2 unchanged\n");
  stop_fake();
  start_fake("FAKE_RELOAD_FAIL");
  Result f = run("reload");
  EXPECT_EQ(f.code, 1);
  EXPECT_NE(f.err.find("kairos.yaml:3:5: unknown key 'shedule'"), std::string::npos) << f.err;
  EXPECT_NE(f.err.find("previous configuration"), std::string::npos);
  EXPECT_EQ(parse_one(run("reload --json").out)["ok"], false);
}

TEST_F(KairosctlTest, NextJobFormatsInTheJobsZone) {
  start_fake();
  Result r = run("next --job nightly-backup --count 2");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "2026-03-28T02:30:00+01:00\n2026-03-29T03:00:00+02:00\n");
  json j = parse_one(run("next -j nightly-backup --json").out);
  EXPECT_EQ(j["timezone"], "Europe/Berlin");
  EXPECT_EQ(j["fires"].size(), 3u);
  EXPECT_EQ(run("next --job nope").code, 1);
}

}  // namespace

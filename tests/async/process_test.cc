#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "async/process.h"
#include "async/timeout.h"
#include "async/timer.h"
#include "loop_fixture.h"

namespace kairos::async {
namespace {

using namespace std::chrono_literals;
using testing::LoopTest;

const std::vector<std::string> kEnv = {"PATH=/usr/bin:/bin", "HOME=/"};

class ProcessTest : public LoopTest {
 protected:
  void SetUp() override {
    LoopTest::SetUp();
    pm_ = std::make_unique<ProcessManager>(loop());
  }
  void TearDown() override {
    pm_->close();
    LoopTest::TearDown();
    pm_.reset();
  }
  SpawnOptions sh(const std::string& script, std::uint64_t limit = 64 * 1024) {
    SpawnOptions o;
    o.argv = {"sh", "-c", script};
    o.env = kEnv;
    o.output_limit = limit;
    return o;
  }
  struct Result {
    ExitStatus status;
    std::string output;
    bool truncated = false;
  };
  Result run_process(SpawnOptions o) {
    std::string err;
    auto p = pm_->spawn(o, &err);
    EXPECT_TRUE(p) << err;
    if (!p) return {};
    auto st = run_value(p->wait());
    return {st, p->output().str(), p->output().truncated()};
  }
  std::unique_ptr<ProcessManager> pm_;
};


TEST_F(ProcessTest, CapturesOutputAndExitCode) {
  auto r = run_process(sh("echo out; echo err >&2; exit 3"));
  EXPECT_EQ(r.status.exit_code, 3);
  EXPECT_EQ(r.status.signal, 0);
  EXPECT_EQ(r.output, "out\nerr\n");
  EXPECT_FALSE(r.truncated);
}

TEST_F(ProcessTest, ReportsSignal) {
  auto r = run_process(sh("kill -USR1 $$"));
  EXPECT_EQ(r.status.signal, SIGUSR1);
  EXPECT_EQ(r.status.exit_code, -1);
}

TEST_F(ProcessTest, KeepsOnlyTheTailOfHugeOutput) {
  // ~20 MB through a 1 KiB tail: memory stays bounded, the end is kept.
  auto r = run_process(sh("head -c 20000000 /dev/zero | tr '\\0' x; echo END", 1024));
  EXPECT_EQ(r.status.exit_code, 0);
  EXPECT_EQ(r.output.size(), 1024u);
  EXPECT_EQ(r.output.substr(r.output.size() - 4), "END\n");
  EXPECT_TRUE(r.truncated);
}

TEST_F(ProcessTest, CleanEnvironmentStdinAndFds) {
  auto r = run_process(sh("echo \"$HOME|$FOO\"; read x || echo EOF; ls /proc/self/fd | wc -l"));
  // fds: 0,1,2 plus the one ls opens for the directory listing.
  EXPECT_EQ(r.output, "/|\nEOF\n4\n");
}

TEST_F(ProcessTest, OwnProcessGroup) {
  auto r = run_process(sh("ps -o pgid= -p $$ | tr -d ' '; echo $$"));
  auto nl = r.output.find('\n');
  ASSERT_NE(nl, std::string::npos);
  EXPECT_EQ(r.output.substr(0, nl), r.output.substr(nl + 1, r.output.size() - nl - 2));
}

TEST_F(ProcessTest, CommandNotFound) {
  SpawnOptions o;
  o.argv = {"no-such-command-kairos"};
  o.env = kEnv;
  std::string err;
  EXPECT_FALSE(pm_->spawn(o, &err));
  EXPECT_NE(err.find("command not found: no-such-command-kairos"), std::string::npos) << err;
}

TEST_F(ProcessTest, BadWorkingDir) {
  // spawn() does not wait for the child to exec; the child's failure is its exit status.
  auto o = sh("echo never");
  o.working_dir = "/nonexistent/dir";
  auto r = run_process(o);
  EXPECT_EQ(r.status.error, "working_dir /nonexistent/dir: No such file or directory");
  EXPECT_EQ(r.status.exit_code, 127);
  EXPECT_EQ(r.output, "");
}

TEST_F(ProcessTest, ManyChildrenInFlightGetTheirOwnArguments) {
  // The children exec while the parent goes on spawning and frees its copies of argv and
  // the environment: each child must still see its own.
  std::vector<std::unique_ptr<Process>> procs;
  for (int i = 0; i < 200; ++i) {
    auto o = sh("echo \"$1 $N\"");
    o.argv.push_back("x");  // $0
    o.argv.push_back("arg" + std::to_string(i));
    o.env.push_back("N=env" + std::to_string(i) + std::string(i % 7 == 0 ? 62000 : 0, 'z'));
    std::string err;
    procs.push_back(pm_->spawn(o, &err));
    ASSERT_TRUE(procs.back()) << err;
  }
  for (int i = 0; i < 200; ++i) {
    auto st = run_value(procs[i]->wait());
    EXPECT_EQ(st.exit_code, 0) << i << " " << st.error;
    std::string want = "arg" + std::to_string(i) + " env" + std::to_string(i) +
                       std::string(i % 7 == 0 ? 62000 : 0, 'z') + "\n";
    EXPECT_EQ(procs[i]->output().str(), want) << i;
  }
}

TEST_F(ProcessTest, AGroupSignalRightAfterSpawnReachesTheChild) {
  // The group exists as soon as spawn() returns, even if the child has not run yet.
  for (int i = 0; i < 20; ++i) {
    std::string err;
    auto p = pm_->spawn(sh("sleep 30"), &err);
    ASSERT_TRUE(p) << err;
    p->signal_group(SIGKILL);
    auto st = run_value(p->wait());
    EXPECT_EQ(st.signal, SIGKILL) << i;
  }
}

TEST_F(ProcessTest, FallbackDirWhenTheWorkingDirIsGone) {
  auto o = sh("pwd");
  o.working_dir = "/nonexistent/home";
  o.fallback_dir = "/";
  EXPECT_EQ(run_process(o).output, "/\n");
  o.working_dir = "/tmp";
  EXPECT_EQ(run_process(o).output, "/tmp\n");
}

TEST_F(ProcessTest, ChildStartsWithDefaultSignalsAndEmptyMask) {
  // Whatever the daemon does with its own signals must not leak into a job: an ignored
  // SIGPIPE would survive execve, a blocked mask too.
  struct sigaction ign{}, old_pipe{}, old_usr1{};
  ign.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ign, &old_pipe);
  struct sigaction catcher{};
  catcher.sa_handler = [](int) {};
  ::sigaction(SIGUSR1, &catcher, &old_usr1);
  sigset_t usr2, old_mask;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  ::pthread_sigmask(SIG_BLOCK, &usr2, &old_mask);
  auto r = run_process(sh("exec cat /proc/self/status"));
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ::sigaction(SIGUSR1, &old_usr1, nullptr);
  ::sigaction(SIGPIPE, &old_pipe, nullptr);
  for (const char* line : {"SigBlk:\t0000000000000000\n", "SigIgn:\t0000000000000000\n",
                           "SigCgt:\t0000000000000000\n"})
    EXPECT_NE(r.output.find(line), std::string::npos) << line << r.output;
}

TEST_F(ProcessTest, ExecFailureIsReportedAndLeavesNoZombie) {
  char dir[] = "/tmp/kairos-exec-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  std::string script = std::string(dir) + "/not-executable";
  std::ofstream(script) << "#!/bin/sh\nexit 0\n";  // mode 0644: execve says EACCES
  SpawnOptions o;
  o.argv = {script};
  o.env = kEnv;
  auto r = run_process(o);
  EXPECT_EQ(r.status.error, "cannot start " + script + ": Permission denied");
  EXPECT_EQ(r.status.exit_code, 127);
  siginfo_t info{};
  EXPECT_NE(::waitid(P_ALL, 0, &info, WEXITED | WNOHANG), 0) << "a child is left to reap";
  EXPECT_EQ(info.si_pid, 0);
  EXPECT_EQ(pm_->running(), 0u);
  std::remove(script.c_str());
  ::rmdir(dir);
}

TEST_F(ProcessTest, LeftoversInTheGroupAreKilledWhenTheLeaderExits) {
  auto r = run_process(sh("sleep 1000 & echo $!"));
  pid_t bg = std::stoi(r.output);
  EXPECT_EQ(r.status.exit_code, 0);
  // The background sleep was SIGKILLed; as our child's child it is reparented to the
  // subreaper (or init) and gone shortly.
  auto zombie_or_gone = [bg] {
    std::ifstream stat("/proc/" + std::to_string(bg) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return true;
    return line.find(") Z ") != std::string::npos;
  };
  auto t0 = std::chrono::steady_clock::now();
  while (!zombie_or_gone() && ms_since(t0) < 3000) ::usleep(5000);
  EXPECT_TRUE(zombie_or_gone()) << "background sleep survived its job";
}

Task<int> kill_on_cancel(Process* p, CancelToken t) {
  // The attempt pattern: wait for exit; on cancellation signal the group.
  CancelRegistration reg(t, [p] { p->signal_group(SIGTERM); });
  auto st = co_await p->wait();
  co_return st.signal;
}

TEST_F(ProcessTest, TimeoutWhileAProcessRunsKillsIt) {
  std::string err;
  auto p = pm_->spawn(sh("sleep 30"), &err);
  ASSERT_TRUE(p) << err;
  auto t0 = std::chrono::steady_clock::now();
  Process* raw = p.get();
  auto r = run_value(with_timeout<int>(100ms, {}, [raw](CancelToken t) {
    return kill_on_cancel(raw, t);
  }));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.value, SIGTERM);
  EXPECT_LT(ms_since(t0), 5000.0);
}

TEST_F(ProcessTest, SubreaperReapsDoubleForkedOrphans) {
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  // The grandchild escapes the group with setsid, so the group kill misses it; it
  // exits by itself and must be reaped by us, not left a zombie.
  auto r = run_process(sh("setsid sh -c 'sleep 0.2' & sleep 0.05"));
  EXPECT_EQ(r.status.exit_code, 0);
  run([](ProcessManager* pm) -> Task<void> {
    for (int i = 0; i < 200 && pm->orphans_reaped() == 0; ++i) co_await sleep_for(10ms);
  }(pm_.get()));
  EXPECT_GE(pm_->orphans_reaped(), 1u);
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST_F(ProcessTest, ManyConcurrentProcesses) {
  int ok = 0;
  for (int i = 0; i < 200; ++i) {
    std::string err;
    auto p = pm_->spawn(sh("exit 0"), &err);
    ASSERT_TRUE(p) << err;
    scope().spawn([](std::unique_ptr<Process> p, int* ok) -> Task<void> {
      auto st = co_await p->wait();
      if (st.success()) ++*ok;
    }(std::move(p), &ok));
  }
  run([]() -> Task<void> { co_return; }());
  EXPECT_EQ(ok, 200);
  EXPECT_EQ(pm_->running(), 0u);
}

}  // namespace
}  // namespace kairos::async

// The physical limit for the load driver: how fast this machine can start (and reap)
// processes with no scheduler around it. Two recipes, the same child set-up (own process
// group, default signals, stdin /dev/null, stdout+stderr into a pipe, no other fd):
//   --recipe=kairos   (default) async::Spawner, the very code kairosd spawns with
//                     (clone(CLONE_VM|CLONE_VFORK) on a stack kept between spawns);
//   --recipe=posix    glibc's posix_spawn (POSIX_SPAWN_USEVFORK), the textbook limit.
//
//   kairos_bare_spawn [--recipe=R] burst N [PROGRAM]   start N children back to back, then reap
//   kairos_bare_spawn [--recipe=R] rate N CONCURRENCY [PROGRAM]
//                                              start+reap N children, at most CONCURRENCY
//                                              alive at once (sustained rate)
//   env KAIROS_BENCH_BALLAST_MIB=M             first allocate and touch M MiB (large-RSS run)
//
// Prints one JSON object: {"mode", "n", "seconds", "per_second", "rss_kib", "cpu_us_per_spawn"}
// (the spawner's own utime+stime per child: what any scheduler pays at least per run).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "async/spawn.h"

namespace {

struct Child {
  pid_t pid;
  int out;  // read end of the output pipe
};

char* g_argv[2];
char g_env0[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
char* g_envp[] = {g_env0, nullptr};

bool g_posix = false;

Child spawn_one_kairos() {
  static kairos::async::Spawner spawner;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    perror("pipe2");
    std::exit(1);
  }
  kairos::async::ChildSpec spec;
  spec.path = g_argv[0];
  spec.argv = g_argv;
  spec.envp = g_envp;
  spec.output_fd = fds[1];
  kairos::async::SpawnFailure failure;
  pid_t pid = spawner.spawn(spec, &failure);
  close(fds[1]);
  if (pid < 0) {
    std::fprintf(stderr, "spawn %s (%s): %s\n", g_argv[0], failure.step,
                 std::strerror(failure.error));
    std::exit(1);
  }
  return {pid, fds[0]};
}

Child spawn_one() {
  if (!g_posix) return spawn_one_kairos();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    perror("pipe2");
    std::exit(1);
  }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_USEVFORK);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, g_argv[0], &fa, &attr, g_argv, g_envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(fds[1]);
  if (rc != 0) {
    std::fprintf(stderr, "posix_spawn %s: %s\n", g_argv[0], std::strerror(rc));
    std::exit(1);
  }
  return {pid, fds[0]};
}

void finish(const Child& c) {
  char buf[4096];
  while (read(c.out, buf, sizeof buf) > 0) {
  }
  close(c.out);
  int st = 0;
  waitpid(c.pid, &st, 0);
}

long rss_kib() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kib = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, "VmRSS:", 6) == 0) kib = std::strtol(line + 6, nullptr, 10);
  std::fclose(f);
  return kib;
}

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strncmp(argv[1], "--recipe=", 9) == 0) {
    std::string recipe = argv[1] + 9;
    if (recipe != "kairos" && recipe != "posix") {
      std::fprintf(stderr, "unknown recipe %s (kairos, posix)\n", recipe.c_str());
      return 2;
    }
    g_posix = recipe == "posix";
    --argc;
    ++argv;
  }
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s burst N [PROGRAM] | rate N CONCURRENCY [PROGRAM]\n", argv[0]);
    return 2;
  }
  std::string mode = argv[1];
  int n = std::atoi(argv[2]);
  int conc = mode == "rate" && argc > 3 ? std::atoi(argv[3]) : n;
  int prog_arg = mode == "rate" ? 4 : 3;
  std::string prog = argc > prog_arg ? argv[prog_arg] : "/bin/true";
  g_argv[0] = prog.data();
  g_argv[1] = nullptr;

  if (const char* b = std::getenv("KAIROS_BENCH_BALLAST_MIB")) {
    std::size_t bytes = std::strtoull(b, nullptr, 10) << 20;
    auto* p = static_cast<char*>(std::malloc(bytes));
    if (p) std::memset(p, 1, bytes);  // touched, so it is resident
    // Deliberately kept: the point is a large resident set while spawning.
  }
  long rss = rss_kib();

  auto t0 = std::chrono::steady_clock::now();
  double seconds = 0;
  if (mode == "burst") {
    std::vector<Child> kids;
    kids.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) kids.push_back(spawn_one());
    seconds = since(t0);  // until the last one has started
    for (auto& c : kids) finish(c);
  } else if (mode == "rate") {
    // Keep CONCURRENCY children alive; reap whichever exits first (like a scheduler that
    // reaps on SIGCHLD), and drain its pipe.
    std::vector<Child> live;
    int started = 0, done = 0;
    while (done < n) {
      while (started < n && static_cast<int>(live.size()) < conc) {
        live.push_back(spawn_one());
        ++started;
      }
      int st = 0;
      pid_t pid = waitpid(-1, &st, 0);
      for (std::size_t i = 0; i < live.size(); ++i) {
        if (live[i].pid != pid) continue;
        char buf[4096];
        while (read(live[i].out, buf, sizeof buf) > 0) {
        }
        close(live[i].out);
        live[i] = live.back();
        live.pop_back();
        ++done;
        break;
      }
    }
    seconds = since(t0);
  } else {
    std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
    return 2;
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
  std::printf(
      "{\"mode\": \"%s\", \"recipe\": \"%s\", \"n\": %d, \"seconds\": %.6f, \"per_second\": %.1f, "
      "\"rss_kib\": %ld, \"cpu_us_per_spawn\": %.1f}\n",
      mode.c_str(), g_posix ? "posix" : "kairos", n, seconds, n / seconds, rss, cpu / n * 1e6);
  return 0;
}

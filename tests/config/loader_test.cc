// config::load_string over whole documents: what a good file becomes, and the exact
// file:line:column diagnostics of bad ones.
#include "config/loader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "config/reader.h"
#include "schedule/rfc3339.h"

namespace kairos::config {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> errors_of(const std::string& yaml, const LoadOptions& options = {}) {
  std::vector<std::string> out;
  for (const Diagnostic& d : load_string(yaml, "k.yaml", options).errors) out.push_back(d.str());
  return out;
}

Config load_ok(const std::string& yaml, const LoadOptions& options = {}) {
  LoadResult r = load_string(yaml, "k.yaml", options);
  for (const Diagnostic& d : r.errors) ADD_FAILURE() << d.str();
  return r.config.value_or(Config{});
}

LoadOptions as_root(bool root) {
  LoadOptions options;
  options.running_as_root = root;
  return options;
}

const JobSpec* find(const Config& c, const std::string& name) {
  for (const JobSpec& j : c.jobs) {
    if (j.name == name) return &j;
  }
  return nullptr;
}

// The full example configuration, verbatim apart from the user (tests do not run as root).
constexpr const char* kDesignExample = R"(version: 1
daemon:
  socket: /run/kairos/kairosd.sock
  socket_mode: "0660"
  socket_group: kairos
  database: /var/lib/kairos/history.db
  max_concurrent_runs: 32
  shutdown_grace: 30s
  include: ["jobs.d/*.yaml"]
  history: {keep_per_job: 1000, keep_for: 90d}
pools: {database: 2}
defaults:
  timezone: UTC
  timeout: 1h
  kill_grace: 10s
  output_limit: 64KiB
jobs:
  nightly-backup:
    description: Full database dump
    shell: "pg_dump app | zstd > /srv/backup/app.sql.zst"
    schedule: {cron: "30 2 * * *", timezone: Europe/Berlin}
    retry: {attempts: 4, backoff: 30s, factor: 2, max_backoff: 10m, jitter: 0.2, on: [failure, timeout]}
    concurrency: forbid
    pool: database
    catch_up: {policy: last, max_age: 6h}
    working_dir: /srv/backup
    env: {PGHOST: db.internal}
  warm-cache:
    command: [/usr/local/bin/warm, --all]
    schedule: {after: 30s}
  heartbeat:
    command: [/usr/bin/curl, -fsS, "http://127.0.0.1:8080/ping"]
    schedule: {every: 5m, jitter: 15s}
  migrate:
    command: [/opt/app/migrate]
    schedule: {at: "2027-01-01T03:00:00+01:00"}
)";

TEST(Loader, DesignExampleLoadsAsDocumented) {
  const Config c = load_ok(kDesignExample);
  EXPECT_EQ(c.daemon, DaemonConfig{});  // the example shows the defaults
  EXPECT_EQ(c.pools, (std::map<std::string, int>{{"database", 2}}));
  ASSERT_EQ(c.jobs.size(), 4u);
  EXPECT_EQ(c.jobs[0].name, "nightly-backup");  // file order
  EXPECT_EQ(c.jobs[3].name, "migrate");
  EXPECT_EQ(c.files, std::vector<std::string>{"k.yaml"});

  const JobSpec& backup = c.jobs[0];
  EXPECT_EQ(backup.description, "Full database dump");
  EXPECT_EQ(backup.argv, (std::vector<std::string>{
                             "/bin/sh", "-c", "pg_dump app | zstd > /srv/backup/app.sql.zst"}));
  EXPECT_TRUE(backup.is_shell);
  EXPECT_EQ(backup.schedule.kind, ScheduleKind::cron);
  EXPECT_EQ(backup.schedule.cron, "30 2 * * *");
  EXPECT_EQ(backup.schedule.timezone, "Europe/Berlin");
  EXPECT_EQ(backup.retry, (RetryPolicy{.attempts = 4,
                                       .backoff = 30s,
                                       .factor = 2,
                                       .max_backoff = 10min,
                                       .jitter = 0.2,
                                       .on_failure = true,
                                       .on_timeout = true}));
  EXPECT_EQ(backup.concurrency, Overlap::forbid);
  EXPECT_EQ(backup.pool, "database");
  EXPECT_EQ(backup.catch_up, (CatchUp{CatchUpPolicy::last, 6h}));
  EXPECT_EQ(backup.working_dir, "/srv/backup");
  EXPECT_EQ(backup.env, (std::map<std::string, std::string>{{"PGHOST", "db.internal"}}));
  EXPECT_EQ(backup.timeout, 1h);
  EXPECT_EQ(backup.kill_grace, 10s);
  EXPECT_EQ(backup.output_limit, 64u * 1024);
  EXPECT_EQ(backup.loc, (SourceLoc{"k.yaml", 18, 3}));

  const JobSpec& warm = *find(c, "warm-cache");
  EXPECT_EQ(warm.argv, (std::vector<std::string>{"/usr/local/bin/warm", "--all"}));
  EXPECT_FALSE(warm.is_shell);
  EXPECT_EQ(warm.schedule.kind, ScheduleKind::after);
  EXPECT_EQ(warm.schedule.after, 30s);

  const JobSpec& heartbeat = *find(c, "heartbeat");
  EXPECT_EQ(heartbeat.schedule.kind, ScheduleKind::every);
  EXPECT_EQ(heartbeat.schedule.every, 5min);
  EXPECT_EQ(heartbeat.schedule.jitter, 15s);

  const JobSpec& migrate = *find(c, "migrate");
  EXPECT_EQ(migrate.schedule.kind, ScheduleKind::at);
  EXPECT_EQ(schedule::format_rfc3339_utc(migrate.schedule.at), "2027-01-01T02:00:00Z");
}

TEST(Loader, BuiltInDefaultsMatchTheDocs) {
  const Config c = load_ok("jobs:\n  j:\n    command: [/bin/true]\n    schedule: {after: 0}\n");
  const JobSpec& j = c.jobs.at(0);
  EXPECT_EQ(j.timeout, 1h);
  EXPECT_EQ(j.kill_grace, 10s);
  EXPECT_EQ(j.output_limit, 65536u);
  EXPECT_TRUE(j.enabled);
  EXPECT_EQ(j.concurrency, Overlap::forbid);
  EXPECT_EQ(j.max_instances, 1);
  EXPECT_EQ(j.retry, RetryPolicy{});
  EXPECT_EQ(j.catch_up, CatchUp{});
  EXPECT_EQ(j.working_dir, "");
  EXPECT_EQ(j.user, "");
  EXPECT_EQ(c.daemon, DaemonConfig{});
}

TEST(Loader, EmptyDocumentsAreEmptyConfigs) {
  for (const char* text : {"", "# nothing yet\n", "version: 1\n", "jobs:\n", "jobs: {}\n"}) {
    LoadResult r = load_string(text, "k.yaml");
    EXPECT_TRUE(r.ok()) << text;
    ASSERT_TRUE(r.config) << text;
    EXPECT_TRUE(r.config->jobs.empty());
  }
}

TEST(Loader, JobsOfOneFileShareItsName) {
  // 10,000 jobs in /etc/kairos/kairos.yaml must not carry 10,000 copies of the path.
  LoadResult r = load_string(
      "jobs:\n"
      "  a: {schedule: {every: 1s}, command: [x]}\n"
      "  b: {schedule: {every: 1s}, command: [x]}\n",
      "/etc/kairos/a-long-config-file-name.yaml");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.config->jobs.size(), 2u);
  const SourceLoc& a = r.config->jobs[0].loc;
  const SourceLoc& b = r.config->jobs[1].loc;
  EXPECT_EQ(a.file, "/etc/kairos/a-long-config-file-name.yaml");
  EXPECT_EQ(&a.file.str(), &b.file.str());
  EXPECT_EQ(format_loc(b), "/etc/kairos/a-long-config-file-name.yaml:3:3");
  // Equal names compare equal whether shared or not (a reload compares definitions).
  EXPECT_EQ(a.file, FileName("/etc/kairos/a-long-config-file-name.yaml"));
  EXPECT_NE(a.file, FileName("/etc/kairos/other.yaml"));
  EXPECT_EQ(FileName().str(), "");
}

TEST(Loader, DefaultsAreMergedUnderEveryJob) {
  const Config c = load_ok(R"(pools: {db: 1}
defaults:
  timezone: Asia/Tokyo
  timeout: 5m
  kill_grace: 2s
  output_limit: 1MiB
  retry: {attempts: 3, backoff: 10s}
  concurrency: allow
  max_instances: 2
  catch_up: {policy: all}
  working_dir: /tmp
  env: {A: from-defaults, B: from-defaults}
  pool: db
jobs:
  plain:
    command: [x]
    schedule: {cron: "@daily"}
  own:
    command: [x]
    schedule: {cron: "0 * * * *", timezone: Europe/Paris}
    timeout: 0
    retry: {attempts: 5}
    concurrency: queue
    catch_up: {max_age: 1h}
    env: {B: from-job, C: from-job}
    working_dir: /srv
)");
  const JobSpec& plain = *find(c, "plain");
  EXPECT_EQ(plain.schedule.timezone, "Asia/Tokyo");
  EXPECT_EQ(plain.timeout, 5min);
  EXPECT_EQ(plain.kill_grace, 2s);
  EXPECT_EQ(plain.output_limit, 1u << 20);
  EXPECT_EQ(plain.retry.attempts, 3);
  EXPECT_EQ(plain.retry.backoff, 10s);
  EXPECT_EQ(plain.concurrency, Overlap::allow);
  EXPECT_EQ(plain.max_instances, 2);
  EXPECT_EQ(plain.catch_up.policy, CatchUpPolicy::all);
  EXPECT_EQ(plain.working_dir, "/tmp");
  EXPECT_EQ(plain.pool, "db");
  EXPECT_EQ(plain.env,
            (std::map<std::string, std::string>{{"A", "from-defaults"}, {"B", "from-defaults"}}));

  const JobSpec& own = *find(c, "own");
  EXPECT_EQ(own.schedule.timezone, "Europe/Paris");
  EXPECT_EQ(own.timeout, 0ms);
  // Maps merge key by key: the job's retry keeps the defaults' backoff.
  EXPECT_EQ(own.retry.attempts, 5);
  EXPECT_EQ(own.retry.backoff, 10s);
  EXPECT_EQ(own.catch_up, (CatchUp{CatchUpPolicy::all, 1h}));
  EXPECT_EQ(own.concurrency, Overlap::queue);
  EXPECT_EQ(own.working_dir, "/srv");
  EXPECT_EQ(own.env, (std::map<std::string, std::string>{
                         {"A", "from-defaults"}, {"B", "from-job"}, {"C", "from-job"}}));
}

TEST(Loader, NonCronSchedulesIgnoreTheDefaultZone) {
  // A changed defaults.timezone must not make a reload see every `every` job as changed.
  const Config c = load_ok(
      "defaults: {timezone: Asia/Tokyo}\njobs:\n  j: {command: [x], schedule: {every: 1s}}\n");
  EXPECT_EQ(c.jobs.at(0).schedule.timezone, "UTC");
}

TEST(Loader, AcceptsTheOtherSpellingsOfValues) {
  const Config c = load_ok(R"(daemon: {socket_mode: 0640, watch: true, on_remove: cancel}
jobs:
  j:
    command: ["/bin/echo", 42, true]
    schedule: {at: 2027-01-01T03:00:00Z}
    output_limit: 512
    enabled: false
    retry: {on: [], factor: 1, jitter: 0}
    env: {PORT: 8080}
    concurrency: allow
    max_instances: 4
    description: ""
)");
  EXPECT_EQ(c.daemon.socket_mode, 0640u);
  EXPECT_TRUE(c.daemon.watch);
  EXPECT_EQ(c.daemon.on_remove, OnRemove::cancel);
  const JobSpec& j = c.jobs.at(0);
  EXPECT_EQ(j.argv, (std::vector<std::string>{"/bin/echo", "42", "true"}));
  EXPECT_EQ(j.output_limit, 512u);
  EXPECT_FALSE(j.enabled);
  EXPECT_FALSE(j.retry.on_failure);
  EXPECT_FALSE(j.retry.on_timeout);
  EXPECT_EQ(j.env.at("PORT"), "8080");
  EXPECT_EQ(j.max_instances, 4);
}

TEST(Loader, SocketModeIsOctalHoweverWritten) {
  for (const char* mode : {"\"0660\"", "0660", "660", "'660'", "0o660"}) {
    const Config c = load_ok(std::string("daemon: {socket_mode: ") + mode + "}\n");
    EXPECT_EQ(c.daemon.socket_mode, 0660u) << mode;
  }
}

TEST(Loader, StateDirMovesDatabaseAndSocketUnlessSet) {
  LoadOptions options{.state_dir = "/var/tmp/k", .running_as_root = false};
  Config c = load_ok("", options);
  EXPECT_EQ(c.daemon.database, "/var/tmp/k/history.db");
  EXPECT_EQ(c.daemon.socket, "/var/tmp/k/kairosd.sock");

  c = load_ok("daemon: {database: /data/h.db}\n", options);
  EXPECT_EQ(c.daemon.database, "/data/h.db");
  EXPECT_EQ(c.daemon.socket, "/var/tmp/k/kairosd.sock");

  c = load_ok("daemon: {socket: /run/x.sock}\n", options);
  EXPECT_EQ(c.daemon.database, "/var/tmp/k/history.db");
  EXPECT_EQ(c.daemon.socket, "/run/x.sock");
}

TEST(Loader, RelativePathsFollowTheConfigFile) {
  LoadResult r = load_string("daemon: {database: state/h.db, socket: ../run/k.sock}\n",
                             "/etc/kairos/kairos.yaml");
  ASSERT_TRUE(r.ok()) << r.errors.at(0).str();
  EXPECT_EQ(r.config->daemon.database, "/etc/kairos/state/h.db");
  EXPECT_EQ(r.config->daemon.socket, "/etc/run/k.sock");
}

TEST(Loader, UserAndGroupNeedRoot) {
  const std::string yaml =
      "jobs:\n  j:\n    command: [x]\n    schedule: {every: 1m}\n    user: root\n"
      "    group: root\n";
  EXPECT_EQ(errors_of(yaml, as_root(false)),
            (std::vector<std::string>{"k.yaml:5:11: user: requires kairosd to run as root",
                                      "k.yaml:6:12: group: requires kairosd to run as root"}));
  // As root (or when told so), existing accounts are fine and unknown ones are named.
  const Config c = load_ok(yaml, as_root(true));
  EXPECT_EQ(c.jobs.at(0).user, "root");
  EXPECT_EQ(c.jobs.at(0).group, "root");
  EXPECT_EQ(errors_of("defaults: {user: no-such-user-kairos, group: no-such-group-kairos}\n",
                      as_root(true)),
            (std::vector<std::string>{"k.yaml:1:18: user: unknown user 'no-such-user-kairos'",
                                      "k.yaml:1:46: group: unknown group 'no-such-group-kairos'"}));
}

TEST(Loader, ProblemsInDefaultsAreReportedOnceNotPerJob) {
  EXPECT_EQ(errors_of("defaults: {pool: nope, user: root}\njobs:\n"
                      "  a: {command: [x], schedule: {every: 1m}}\n"
                      "  b: {command: [x], schedule: {every: 1m}}\n"),
            (std::vector<std::string>{
                "k.yaml:1:18: pool: unknown pool 'nope' (no pools are defined under pools:)",
                "k.yaml:1:30: user: requires kairosd to run as root"}));
}

TEST(Loader, EveryKeyOfTheFormLoads) {
  // The same file is validated against the JSON Schema by validate_schema.py.
  LoadResult r = load_file(KAIROS_SOURCE_DIR "/tests/config/data/all_keys.yaml", as_root(true));
  for (const Diagnostic& d : r.errors) ADD_FAILURE() << d.str();
  ASSERT_TRUE(r.ok());
  const Config& c = *r.config;
  EXPECT_EQ(c.daemon.socket_mode, 0640u);
  EXPECT_EQ(c.daemon.shutdown_grace, 90s);
  EXPECT_EQ(c.daemon.history, (HistoryRetention{50, 30 * 24h}));
  EXPECT_TRUE(c.daemon.include.empty());
  EXPECT_TRUE(c.daemon.database.ends_with("/tests/config/data/state/history.db"));
  EXPECT_TRUE(c.daemon.database.starts_with("/"));
  const JobSpec& backup = *find(c, "backup");
  EXPECT_EQ(backup.schedule.timezone, "America/New_York");
  EXPECT_EQ(backup.env,
            (std::map<std::string, std::string>{{"LANG", "C.UTF-8"}, {"TARGET", "/srv"}}));
  EXPECT_EQ(backup.kill_grace, 250ms);
  EXPECT_FALSE(backup.enabled);
  EXPECT_EQ(find(c, "once-after-start")->retry.on_timeout, false);  // from defaults
  EXPECT_EQ(find(c, "interval")->user, "root");
}

TEST(Loader, NeverThrowsOnGarbage) {
  // Whatever the bytes, a result comes back; the daemon's reload depends on it.
  std::string text;
  unsigned seed = 12345;
  for (int round = 0; round < 300; ++round) {
    text.clear();
    const std::string alphabet = "{}[]:,-&*!|>'\"%@`#? \n\tabcjobsdaemonschedule0123456789.";
    for (int i = 0; i < 80; ++i) {
      seed = seed * 1103515245 + 12345;
      text += alphabet[(seed >> 16) % alphabet.size()];
    }
    LoadResult r;
    EXPECT_NO_THROW(r = load_string(text, "fuzz.yaml"));
    EXPECT_EQ(r.ok(), r.config.has_value());
  }
}

}  // namespace
}  // namespace kairos::config

// Bad documents and their exact diagnostics: one row per mistake people make.
#include <gtest/gtest.h>

#include "config/loader.h"

namespace kairos::config {
namespace {

struct BadCase {
  const char* name;
  const char* yaml;
  std::vector<std::string> expected;  // "line:col: message", file name "k.yaml" left out
};

void PrintTo(const BadCase& c, std::ostream* os) {
  *os << c.name;
}

class BadDocument : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadDocument, ReportsExactlyTheseProblems) {
  const BadCase& c = GetParam();
  LoadResult r = load_string(c.yaml, "k.yaml");
  std::vector<std::string> got;
  for (const Diagnostic& d : r.errors) {
    const std::string s = d.str();
    EXPECT_TRUE(s.starts_with("k.yaml:")) << s;
    got.push_back(s.substr(7));
  }
  EXPECT_EQ(got, c.expected);
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.config.has_value());
}

// A valid job body to put problems next to.
#define JOB "    command: [/bin/true]\n    schedule: {every: 1m}\n"

const BadCase kCases[] = {
    {"SyntaxError",
     "jobs:\n  a: [1,\n  b: 2\n",
     {"4:1: YAML syntax error: end of sequence flow not found"}},
    {"StrayComma", ",\n", {"1:1: YAML syntax error: unexpected ','"}},
    {"TwoDocuments",
     "version: 1\n---\nversion: 1\n",
     {"3:1: only one YAML document per file is allowed"}},
    {"TopLevelList", "- a\n- b\n", {"1:1: expected a map at the top level, got a list"}},
    {"UnknownTopLevelKey", "job:\n  a: {}\n", {"1:1: unknown key 'job' (did you mean 'jobs'?)"}},
    {"UnknownKeyWithoutHint", "jobs:\n  a:\n" JOB "    banana: 1\n", {"5:5: unknown key 'banana'"}},
    {"TypoInJobKey",
     "jobs:\n  a:\n" JOB "    timout: 5m\n",
     {"5:5: unknown key 'timout' (did you mean 'timeout'?)"}},
    {"TransposedLetters",
     "jobs:\n  a:\n    command: [x]\n    shcedule: {every: 1m}\n",
     {"2:3: job 'a': missing 'schedule'",
      "4:5: unknown key 'shcedule' (did you mean 'schedule'?)"}},
    {"WrongVersion",
     "version: 2\n",
     {"1:10: version: unsupported version 2 (this kairos reads version 1)"}},
    {"QuotedVersion",
     "version: \"1\"\n",
     {"1:10: version: expected an integer, got the string '1'"}},
    {"MissingCommand",
     "jobs:\n  a:\n    schedule: {after: 1s}\n",
     {"2:3: job 'a': missing 'command' or 'shell'"}},
    {"MissingSchedule", "jobs:\n  a:\n    shell: echo hi\n", {"2:3: job 'a': missing 'schedule'"}},
    {"CommandAndShell",
     "jobs:\n  a:\n" JOB "    shell: echo\n",
     {"5:5: 'command' and 'shell' cannot be combined: use one of them"}},
    {"EmptyCommand",
     "jobs:\n  a:\n    command: []\n    schedule: {every: 1m}\n",
     {"3:14: command: must not be empty"}},
    {"CommandIsAString",
     "jobs:\n  a:\n    command: /bin/true\n    schedule: {every: 1m}\n",
     {"3:14: command: expected a list of strings, got '/bin/true'"}},
    {"CommandItemIsAMap",
     "jobs:\n  a:\n    command: [x, {y: 1}]\n    schedule: {every: 1m}\n",
     {"3:18: command: expected a string, got a map"}},
    {"EmptyShell",
     "jobs:\n  a:\n    shell: \"\"\n    schedule: {every: 1m}\n",
     {"3:12: shell: must not be empty"}},
    {"JobIsNotAMap", "jobs:\n  a: echo\n", {"2:6: job 'a': expected a map, got 'echo'"}},
    {"JobsIsAList", "jobs:\n  - a\n", {"2:3: jobs: expected a map, got a list"}},
    {"BadJobName",
     "jobs:\n  no/slash:\n" JOB,
     {"2:3: invalid job name 'no/slash': use letters, digits, '_', '.', '-', starting with a "
      "letter or digit, at most 64 characters"}},
    {"JobNameTooLong",
     "jobs:\n  a234567890123456789012345678901234567890123456789012345678901234x:\n" JOB,
     {"2:3: invalid job name "
      "'a234567890123456789012345678901234567890123456789012345678901234x': use letters, "
      "digits, '_', '.', '-', starting with a letter or digit, at most 64 characters"}},
    {"DuplicateJob",
     "jobs:\n  a:\n" JOB "  b:\n" JOB "  a:\n" JOB,
     {"8:3: duplicate job 'a' (first defined at k.yaml:2:3)"}},
    {"DuplicateKey",
     "jobs:\n  a:\n" JOB "    timeout: 1m\n    timeout: 2m\n",
     {"6:5: duplicate key 'timeout' (first defined at k.yaml:5:5)"}},
    {"NoScheduleKind",
     "jobs:\n  a:\n    command: [x]\n    schedule: {jitter: 1s}\n",
     {"4:5: schedule: needs one of after, at, every, cron"}},
    {"ScheduleKeyOnTheJob",
     "jobs:\n  a:\n    command: [x]\n    every: 5m\n",
     {"2:3: job 'a': missing 'schedule'",
      "4:5: 'every' belongs inside schedule:, as in schedule: {every: ...}"}},
    {"EmptySchedule",
     "jobs:\n  a:\n    command: [x]\n    schedule:\n",
     {"4:5: schedule: expected a map with one of after, at, every, cron; got nothing"}},
    {"TwoScheduleKinds",
     "jobs:\n  a:\n    command: [x]\n    schedule: {every: 1m, after: 1s}\n",
     {"4:27: schedule: 'every' and 'after' cannot be combined; use exactly one of after, at, "
      "every, cron"}},
    {"JitterWithoutEvery",
     "jobs:\n  a:\n    command: [x]\n    schedule: {after: 1m, jitter: 1s}\n",
     {"4:27: jitter: only allowed with every"}},
    {"JitterNotShorterThanEvery",
     "jobs:\n  a:\n    command: [x]\n    schedule: {every: 1m, jitter: 1m}\n",
     {"4:35: jitter: must be shorter than every (1m)"}},
    {"TimezoneWithoutCron",
     "jobs:\n  a:\n    command: [x]\n    schedule: {every: 1m, timezone: UTC}\n",
     {"4:27: timezone: only allowed with cron"}},
    {"EveryTooShort",
     "jobs:\n  a:\n    command: [x]\n    schedule: {every: 5ms}\n",
     {"4:23: every: must be at least 10ms"}},
    {"EveryZero",
     "jobs:\n  a:\n    command: [x]\n    schedule: {every: 0}\n",
     {"4:23: every: must be at least 10ms"}},
    {"DurationWithoutUnit",
     "jobs:\n  a:\n" JOB "    timeout: 30\n",
     {"5:14: timeout: invalid duration '30': missing unit (e.g. 30s)"}},
    {"BadDuration",
     "jobs:\n  a:\n" JOB "    kill_grace: 10 s\n",
     {"5:17: kill_grace: invalid duration '10 s': expected numbers with units ms, s, m, h, d "
      "(e.g. 30s, 1h30m)"}},
    {"DurationIsAList",
     "jobs:\n  a:\n" JOB "    timeout: [1s]\n",
     {"5:14: timeout: expected a duration such as 30s, got a list"}},
    {"BadSize",
     "jobs:\n  a:\n" JOB "    output_limit: 64kb\n",
     {"5:19: output_limit: invalid size '64kb': expected a number of bytes, optionally with a "
      "unit (KiB, MiB, GiB, KB, MB, GB; e.g. 64KiB)"}},
    {"AtWithoutOffset",
     "jobs:\n  a:\n    command: [x]\n    schedule: {at: \"2027-01-01T03:00:00\"}\n",
     {"4:20: at: invalid time '2027-01-01T03:00:00': missing offset (expected RFC 3339 like "
      "2027-01-01T03:00:00+01:00 or ...Z)"}},
    {"AtImpossibleDate",
     "jobs:\n  a:\n    command: [x]\n    schedule: {at: 2027-02-29T03:00:00Z}\n",
     {"4:20: at: invalid time '2027-02-29T03:00:00Z': no such date (expected RFC 3339 like "
      "2027-01-01T03:00:00+01:00 or ...Z)"}},
    {"CronErrorInPlainScalar",
     "jobs:\n  a:\n    command: [x]\n    schedule:\n      cron: 0 25 * * *\n",
     {"5:15: cron: hour: 25 is out of range 0-23"}},
    {"CronErrorInQuotedScalar",
     "jobs:\n  a:\n    command: [x]\n    schedule: {cron: \"0 0 * * FOO\"}\n",
     {"4:31: cron: day-of-week: unknown name 'FOO' (expected SUN-SAT)"}},
    {"CronWrongFieldCount",
     "jobs:\n  a:\n    command: [x]\n    schedule: {cron: '* * *'}\n",
     {"4:28: cron: expected 5 fields (minute hour day-of-month month day-of-week) or 6 (with "
      "leading seconds), got 3"}},
    {"UnknownZone",
     "jobs:\n  a:\n    command: [x]\n    schedule: {cron: '@daily', timezone: Europe/Berln}\n",
     {"4:42: timezone: unknown time zone 'Europe/Berln' (did you mean 'Europe/Berlin'?)"}},
    {"UnknownDefaultZone",
     "defaults:\n  timezone: Mars/Base\n",
     {"2:13: timezone: unknown time zone 'Mars/Base'"}},
    {"BadEnum",
     "jobs:\n  a:\n" JOB "    concurrency: skip\n",
     {"5:18: concurrency: expected one of allow, forbid, replace, queue, got 'skip'"}},
    {"EnumTypo",
     "jobs:\n  a:\n" JOB "    concurrency: replce\n",
     {"5:18: concurrency: expected one of allow, forbid, replace, queue, got 'replce' (did you "
      "mean 'replace'?)"}},
    {"MaxInstancesWithoutAllow",
     "jobs:\n  a:\n" JOB "    max_instances: 3\n",
     {"5:5: max_instances: only meaningful with concurrency: allow"}},
    {"MaxInstancesZero",
     "jobs:\n  a:\n" JOB "    concurrency: allow\n    max_instances: 0\n",
     {"6:20: max_instances: must be between 1 and 100000, got 0"}},
    {"UnknownPoolTypo",
     "pools: {database: 2}\njobs:\n  a:\n" JOB "    pool: databse\n",
     {"6:11: pool: unknown pool 'databse' (did you mean 'database'?)"}},
    {"UnknownPool",
     "pools: {db: 2}\njobs:\n  a:\n" JOB "    pool: bd\n",
     {"6:11: pool: unknown pool 'bd'"}},
    {"PoolWithoutPools",
     "jobs:\n  a:\n" JOB "    pool: db\n",
     {"5:11: pool: unknown pool 'db' (no pools are defined under pools:)"}},
    {"PoolSizeZero",
     "pools: {db: 0}\njobs:\n  a:\n" JOB "    pool: db\n",
     {"1:13: db: must be between 1 and 1000000, got 0"}},
    {"RetryProblems",
     "jobs:\n  a:\n" JOB
     "    retry: {attempts: 0, factor: 0.5, jitter: 1.5, on: [failure, crash]}\n",
     {"5:23: attempts: must be between 1 and 1000, got 0",
      "5:34: factor: must be between 1 and 1000, got 0.5",
      "5:47: jitter: must be between 0 and 1, got 1.5",
      "5:66: on: expected one of failure, timeout, got 'crash'"}},
    {"RetryUnknownKey",
     "jobs:\n  a:\n" JOB "    retry: {attempt: 3}\n",
     {"5:13: unknown key 'attempt' (did you mean 'attempts'?)"}},
    {"RetryIsANumber",
     "jobs:\n  a:\n" JOB "    retry: 3\n",
     {"5:12: retry: expected a map, got '3'"}},
    {"CatchUpProblems",
     "jobs:\n  a:\n" JOB "    catch_up: {policy: first, max_age: 6}\n",
     {"5:24: policy: expected one of none, last, all, got 'first'",
      "5:40: max_age: invalid duration '6': missing unit (e.g. 6s)"}},
    {"RelativeWorkingDir",
     "jobs:\n  a:\n" JOB "    working_dir: srv\n",
     {"5:18: working_dir: must be an absolute path, got 'srv'"}},
    {"BadEnvName",
     "jobs:\n  a:\n" JOB "    env: {A-B: 1, KAIROS_JOB: x, OK: [1]}\n",
     {"5:11: env: invalid variable name 'A-B' (letters, digits and '_', not starting with a "
      "digit)",
      "5:19: env: 'KAIROS_JOB' is reserved: kairos sets KAIROS_* variables",
      "5:38: OK: expected a string, got a list"}},
    {"YesIsNotABoolean",
     "jobs:\n  a:\n" JOB "    enabled: yes\n",
     {"5:14: enabled: expected true or false, got 'yes'"}},
    {"UserWithoutRoot",
     "jobs:\n  a:\n" JOB "    user: nobody\n",
     {"5:11: user: requires kairosd to run as root"}},
    {"DefaultsRejectJobOnlyKeys",
     "defaults:\n  command: [x]\n  enabled: false\n",
     {"2:3: unknown key 'command'", "3:3: unknown key 'enabled'"}},
    {"DaemonProblems",
     "daemon:\n  socket_mode: \"0999\"\n  max_concurrent_runs: 0\n  shutdown_grace: soon\n"
     "  include: jobs.d\n  history: {keep_per_job: -1, keep: 1d}\n  watch: on\n"
     "  on_remove: kill\n  socket: \"\"\n",
     {"2:16: socket_mode: expected an octal file mode such as \"0660\", got the string '0999'",
      "3:24: max_concurrent_runs: must be between 1 and 1000000, got 0",
      "4:19: shutdown_grace: invalid duration 'soon': expected numbers with units ms, s, m, h, "
      "d (e.g. 30s, 1h30m)",
      "5:12: include: expected a list of strings, got 'jobs.d'",
      "6:27: keep_per_job: must be at least 0, got -1", "6:31: unknown key 'keep'",
      "7:10: watch: expected true or false, got 'on'",
      "8:14: on_remove: expected one of finish, cancel, got 'kill'",
      "9:11: socket: must not be empty"}},
    {"IncludeOfMissingLiteralFile",
     "daemon:\n  include: [/nonexistent/kairos/extra.yaml]\n",
     {"2:13: include: no such file '/nonexistent/kairos/extra.yaml'"}},
    {"NonStringKey",
     "jobs:\n  [a, b]: {}\n",
     {"2:3: jobs: keys must be plain strings, got a list"}},
};

INSTANTIATE_TEST_SUITE_P(Config, BadDocument, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Diagnostics, AllProblemsOfAFileAreReportedInPositionOrder) {
  // Sections are read in dependency order (daemon, pools, defaults, jobs) but reported in
  // file order.
  LoadResult r = load_string(
      "jobs:\n  a:\n    command: [x]\n    schedule: {every: 1s}\n    pool: p\n"
      "pools: {p: -1}\ndaemon: {watch: 1}\n",
      "k.yaml");
  std::vector<std::string> got;
  for (const Diagnostic& d : r.errors) got.push_back(d.str());
  EXPECT_EQ(got, (std::vector<std::string>{"k.yaml:6:12: p: must be between 1 and 1000000, got -1",
                                           "k.yaml:7:17: watch: expected true or false, got '1'"}));
}

TEST(Diagnostics, LocationIsOneBasedAndStrIsCompilerStyle) {
  Diagnostic d{SourceLoc{"/etc/kairos/kairos.yaml", 3, 7}, "timeout: bad"};
  EXPECT_EQ(d.str(), "/etc/kairos/kairos.yaml:3:7: timeout: bad");
  Diagnostic whole_file{SourceLoc{"x.yaml", 0, 0}, "cannot read: No such file or directory"};
  EXPECT_EQ(whole_file.str(), "x.yaml: cannot read: No such file or directory");
}

}  // namespace
}  // namespace kairos::config

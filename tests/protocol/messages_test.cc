#include "protocol/messages.h"

#include <gtest/gtest.h>

namespace kairos::protocol {
namespace {

template <class T>
void expect_round_trip(const T& v) {
  json j = v;
  // Through text too, as on the wire.
  json back = json::parse(dump_line(j));
  std::string err;
  auto decoded = decode<T>(back, &err);
  ASSERT_TRUE(decoded.has_value()) << err << " in " << back.dump();
  EXPECT_EQ(*decoded, v) << back.dump();
}

RunInfo sample_run() {
  RunInfo r;
  r.id = 42;
  r.job = "nightly-backup";
  r.trigger = "schedule";
  r.scheduled_at = 1795000000000;
  r.started_at = 1795000000123;
  r.finished_at = 1795000004000;
  r.status = "failed";
  r.attempts = 3;
  r.exit_code = 2;
  r.error = "exit status 2";
  r.missed_count = 1;
  return r;
}

TEST(Messages, RunInfoRoundTripAndNulls) {
  expect_round_trip(sample_run());
  RunInfo r;
  r.id = 1;
  r.status = "queued";
  json j = r;
  EXPECT_TRUE(j["started_at"].is_null());
  EXPECT_TRUE(j["exit_code"].is_null());
  EXPECT_TRUE(j["signal"].is_null());
  expect_round_trip(r);
}

TEST(Messages, StableFieldNames) {
  json j = sample_run();
  for (const char* k : {"id", "job", "trigger", "scheduled_at", "started_at", "finished_at",
                        "status", "attempts", "exit_code", "signal", "error", "missed_count"})
    EXPECT_TRUE(j.contains(k)) << k;
  JobDetail d;
  d.summary.name = "a";
  json jd = d;
  for (const char* k : {"name", "schedule", "state", "running_runs", "last", "next_fire",
                        "description", "command", "shell", "retry", "next_fires", "recent_runs"})
    EXPECT_TRUE(jd.contains(k)) << k;
}

TEST(Messages, AttemptInfoWithBinaryOutput) {
  AttemptInfo a;
  a.run_id = 42;
  a.attempt = 2;
  a.started_at = 1;
  a.status = "timed_out";
  a.signal = 9;
  a.output = "line1\nline2\n";
  a.output_truncated = true;
  expect_round_trip(a);
  a.output = std::string("bad \xc3\x28 utf8");
  std::string line = dump_line(json(a));  // must not throw
  EXPECT_NE(line.find("\xef\xbf\xbd"), std::string::npos) << line;
}

TEST(Messages, JobSummaryAndDetail) {
  JobSummary s;
  s.name = "heartbeat";
  s.schedule = "every 5m";
  s.state = "running";
  s.running_runs = {7, 8};
  s.last = sample_run();
  s.next_fire = 1795000300000;
  expect_round_trip(s);

  JobDetail d;
  d.summary = s;
  d.description = "ping";
  d.command = {"/usr/bin/curl", "-fsS", "http://x"};
  d.timezone = "Europe/Berlin";
  d.concurrency = "forbid";
  d.timeout_ms = 3600000;
  d.retry = RetryInfo{4, 30000, 2.0, 600000, 0.2, {"failure", "timeout"}};
  d.catch_up = "last";
  d.catch_up_max_age_ms = 6 * 3600000;
  d.source = "/etc/kairos/kairos.yaml:12:3";
  d.next_fires = {1, 2, 3, 4, 5};
  d.recent_runs = {sample_run()};
  expect_round_trip(d);
  json j = d;
  EXPECT_EQ(j["name"], "heartbeat");  // flat, not nested under "summary"
  EXPECT_FALSE(j.contains("summary"));
}

TEST(Messages, StatusAndResults) {
  StatusInfo st;
  st.version = "0.1.0";
  st.pid = 1234;
  st.uptime_ms = 99;
  st.config_path = "/etc/kairos/kairos.yaml";
  st.jobs = 3;
  st.running = 1;
  st.running_runs = {sample_run()};
  st.next_fire = NextFire{"heartbeat", 1795000300000};
  expect_round_trip(st);
  expect_round_trip(ListResult{{JobSummary{"a", "every 1m", "active", {}, {}, {}}}});
  expect_round_trip(CancelResult{{1, 2}});
  expect_round_trip(JobStateResult{"a", "paused", true});
  expect_round_trip(HistoryResult{{sample_run(), sample_run()}});
  expect_round_trip(
      LogsResult{sample_run(), {AttemptInfo{42, 1, 1, 2, "failed", 2, {}, "x", false, ""}}});
  expect_round_trip(ReloadResult{false, {"a.yaml:1:2: bad"}, {"x"}, {"y"}, {"z"}, {"w"}});
  expect_round_trip(NextResult{"a", "Europe/Berlin", {1, 2, 3}});
}

TEST(Messages, ParamsRoundTripAndDefaults) {
  expect_round_trip(JobParams{"a"});
  expect_round_trip(RunParams{"a", true, true});
  expect_round_trip(CancelParams{7, std::nullopt});
  expect_round_trip(CancelParams{std::nullopt, "a"});
  expect_round_trip(HistoryParams{"a", "failed", 1000, 10});
  expect_round_trip(HistoryParams{});
  expect_round_trip(LogsParams{9});
  expect_round_trip(NextParams{"a", 3});

  auto run = decode<RunParams>(json{{"job", "a"}}, nullptr);
  ASSERT_TRUE(run);
  EXPECT_FALSE(run->force);
  EXPECT_FALSE(run->wait);
  auto hist = decode<HistoryParams>(nullptr, nullptr);
  ASSERT_TRUE(hist);
  EXPECT_EQ(hist->limit, 50);
  EXPECT_FALSE(hist->job);
  auto next = decode<NextParams>(json{{"job", "a"}}, nullptr);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->count, 5);
}

TEST(Messages, UnknownFieldsAreIgnoredForForwardCompatibility) {
  json j = sample_run();
  j["future_field"] = {1, 2, 3};
  auto r = decode<RunInfo>(j, nullptr);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, sample_run());
}

TEST(Messages, WrongTypesNameTheField) {
  std::string err;
  json j = sample_run();
  j["attempts"] = "3";
  EXPECT_FALSE(decode<RunInfo>(j, &err));
  EXPECT_NE(err.find("attempts"), std::string::npos) << err;

  json l = {{"jobs", {{{"name", "a"}, {"last", {{"id", "x"}}}}}}};
  EXPECT_FALSE(decode<ListResult>(l, &err));
  EXPECT_NE(err.find("jobs[0].last.id"), std::string::npos) << err;

  EXPECT_FALSE(decode<ListResult>(json::array(), &err));
  EXPECT_FALSE(decode<LogsParams>(json{{"run_id", 1.5}}, &err));
  EXPECT_FALSE(decode<JobParams>(json{{"job", nullptr}}, &err));
}

TEST(Messages, KnownMethods) {
  EXPECT_EQ(all_methods().size(), 11u);
  for (auto m : all_methods()) EXPECT_TRUE(is_known_method(m));
  EXPECT_FALSE(is_known_method("wait"));
  EXPECT_FALSE(is_known_method(""));
}

}  // namespace
}  // namespace kairos::protocol

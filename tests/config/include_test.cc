// daemon.include: real files in a temporary directory.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "config/loader.h"

namespace kairos::config {
namespace {

namespace fs = std::filesystem;

class Include : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "kairos-config-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& relative, const std::string& text) {
    const fs::path path = dir_ / relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path.string();
  }
  std::vector<std::string> errors(const LoadResult& r) {
    std::vector<std::string> out;
    for (const Diagnostic& d : r.errors) out.push_back(d.str());
    return out;
  }

  fs::path dir_;
};

constexpr const char* kJob = "    command: [/bin/true]\n    schedule: {every: 1m}\n";

TEST_F(Include, DefaultGlobReadsJobsDInOrderWithDefaultsAndPools) {
  const std::string main = write("kairos.yaml", std::string("pools: {db: 1}\n"
                                                            "defaults: {timeout: 5m}\n"
                                                            "jobs:\n  main-job:\n") +
                                                    kJob);
  const std::string b = write("jobs.d/b.yaml", std::string("jobs:\n  b-job:\n") + kJob);
  const std::string a = write(
      "jobs.d/a.yaml", std::string("version: 1\njobs:\n  a-job:\n") + kJob + "    pool: db\n");
  write("jobs.d/ignored.yml", "not: [valid");
  LoadResult r = load_file(main);
  ASSERT_TRUE(r.ok()) << errors(r).at(0);
  ASSERT_EQ(r.config->jobs.size(), 3u);
  EXPECT_EQ(r.config->jobs[0].name, "main-job");
  EXPECT_EQ(r.config->jobs[1].name, "a-job");
  EXPECT_EQ(r.config->jobs[2].name, "b-job");
  EXPECT_EQ(r.config->jobs[1].pool, "db");
  EXPECT_EQ(r.config->jobs[2].timeout, std::chrono::minutes(5));
  EXPECT_EQ(r.config->jobs[1].loc, (SourceLoc{a, 3, 3}));
  EXPECT_EQ(r.config->files, (std::vector<std::string>{main, a, b}));
}

TEST_F(Include, MissingJobsDirIsFine) {
  LoadResult r = load_file(write("kairos.yaml", std::string("jobs:\n  x:\n") + kJob));
  EXPECT_TRUE(r.ok());
}

TEST_F(Include, DuplicateAcrossFilesNamesBothPlaces) {
  const std::string main = write("kairos.yaml", std::string("jobs:\n  backup:\n") + kJob);
  const std::string extra = write(
      "jobs.d/extra.yaml", std::string("# more\njobs:\n  other:\n") + kJob + "  backup:\n" + kJob);
  LoadResult r = load_file(main);
  EXPECT_EQ(errors(r),
            (std::vector<std::string>{extra + ":6:3: duplicate job 'backup' (first defined at " +
                                      main + ":2:3)"}));
}

TEST_F(Include, ProblemsOfAllFilesComeSortedByFileThenPosition) {
  const std::string main = write("kairos.yaml",
                                 "daemon: {include: [\"b/*.yaml\", \"a/*.yaml\"]}\n"
                                 "jobs:\n  m:\n    command: [x]\n    schedule: {every: 1x}\n");
  const std::string b = write("b/1.yaml", "jobs:\n  b1:\n    shell: x\n    timeout: 1y\n");
  const std::string a =
      write("a/1.yaml", "jobs:\n  a1: {command: [x], schedule: {after: 1s}, pool: p}\n");
  LoadResult r = load_file(main);
  EXPECT_EQ(errors(r),
            (std::vector<std::string>{
                main + ":5:23: every: invalid duration '1x': expected numbers with units ms, s, "
                       "m, h, d (e.g. 30s, 1h30m)",
                b + ":2:3: job 'b1': missing 'schedule'",
                b + ":4:14: timeout: invalid duration '1y': expected numbers with units ms, s, "
                    "m, h, d (e.g. 30s, 1h30m)",
                a + ":2:51: pool: unknown pool 'p' (no pools are defined under pools:)"}));
}

TEST_F(Include, IncludedFilesHoldOnlyJobs) {
  const std::string main = write("kairos.yaml", "");
  const std::string inc =
      write("jobs.d/x.yaml", "daemon: {watch: true}\npools: {a: 1}\nversion: 1\njbos: {}\n");
  LoadResult r = load_file(main);
  EXPECT_EQ(errors(r), (std::vector<std::string>{
                           inc + ":1:1: 'daemon' is only allowed in the main config file " + main +
                               "; included files hold only 'jobs:'",
                           inc + ":2:1: 'pools' is only allowed in the main config file " + main +
                               "; included files hold only 'jobs:'",
                           inc + ":4:1: unknown key 'jbos' (did you mean 'jobs'?)"}));
}

TEST_F(Include, SyntaxErrorInOneFileDoesNotHideTheOthers) {
  const std::string main = write("kairos.yaml", "jobs:\n  m: {command: [x], schedule: {}}\n");
  const std::string bad = write("jobs.d/bad.yaml", "jobs:\n  a: [\n");
  LoadResult r = load_file(main);
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].str(), main + ":2:21: schedule: needs one of after, at, every, cron");
  EXPECT_EQ(r.errors[1].loc.file, bad);
  EXPECT_NE(r.errors[1].message.find("YAML syntax error"), std::string::npos);
}

TEST_F(Include, AFileMatchedTwiceOrTheMainFileIsReadOnce) {
  const std::string main =
      write("kairos.yaml", "daemon: {include: [\"*.yaml\", \"jobs.d/*\", \"jobs.d/x.yaml\"]}\n");
  write("jobs.d/x.yaml", std::string("jobs:\n  x:\n") + kJob);
  LoadResult r = load_file(main);
  ASSERT_TRUE(r.ok()) << errors(r).at(0);
  EXPECT_EQ(r.config->jobs.size(), 1u);
  EXPECT_EQ(r.config->files.size(), 2u);
}

TEST_F(Include, MissingLiteralFileIsAnErrorButAnEmptyGlobIsNot) {
  const std::string main = write("kairos.yaml", "daemon:\n  include: [none/*.yaml, extra.yaml]\n");
  LoadResult r = load_file(main);
  EXPECT_EQ(errors(r), (std::vector<std::string>{main + ":2:26: include: no such file '" +
                                                 (dir_ / "extra.yaml").string() + "'"}));
}

TEST_F(Include, EmptyIncludeListReadsOnlyTheMainFile) {
  const std::string main = write("kairos.yaml", "daemon: {include: []}\n");
  write("jobs.d/x.yaml", "this is: [broken");
  EXPECT_TRUE(load_file(main).ok());
}

TEST_F(Include, UnreadableMainFileIsReported) {
  LoadResult r = load_file((dir_ / "missing.yaml").string());
  EXPECT_EQ(errors(r), (std::vector<std::string>{(dir_ / "missing.yaml").string() +
                                                 ": cannot read: No such file or directory"}));
  r = load_file(dir_.string());
  EXPECT_EQ(errors(r), (std::vector<std::string>{dir_.string() + ": cannot read: is a directory"}));
}

TEST_F(Include, RelativeDatabaseFollowsTheMainFile) {
  const std::string main = write("conf/kairos.yaml", "daemon: {database: ../state/h.db}\n");
  LoadResult r = load_file(main);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config->daemon.database, (dir_ / "state/h.db").string());
}

}  // namespace
}  // namespace kairos::config

// Every example config shipped in etc/ loads cleanly: the examples are documentation, and
// documentation that does not load is worse than none.
#include <glob.h>
#include <gtest/gtest.h>

#include "config/loader.h"

namespace kairos::config {
namespace {

std::vector<std::string> glob_files(const std::string& pattern) {
  glob_t g{};
  std::vector<std::string> out;
  if (glob(pattern.c_str(), 0, nullptr, &g) == 0) out.assign(g.gl_pathv, g.gl_pathv + g.gl_pathc);
  globfree(&g);
  return out;
}

std::string describe(const LoadResult& r) {
  std::string out;
  for (const Diagnostic& d : r.errors) out += d.str() + "\n";
  return out;
}

TEST(Examples, MainExamplesLoadWithTheirIncludes) {
  const auto files = glob_files(KAIROS_SOURCE_DIR "/etc/*.yaml");
  if (files.empty()) GTEST_SKIP() << "no etc/*.yaml examples yet";
  for (const std::string& file : files) {
    LoadOptions options;
    options.state_dir = "/tmp/kairos-example-state";
    LoadResult r = load_file(file, options);
    EXPECT_TRUE(r.ok()) << describe(r);
    if (r.ok()) {
      EXPECT_FALSE(r.config->jobs.empty()) << file << " defines no jobs";
    }
  }
}

TEST(Examples, IncludedExamplesLoadOnTheirOwn) {
  // Each jobs.d file is also a valid main file: it only has `jobs:` (and `version:`).
  const auto files = glob_files(KAIROS_SOURCE_DIR "/etc/jobs.d/*.yaml");
  if (files.empty()) GTEST_SKIP() << "no etc/jobs.d/*.yaml examples yet";
  for (const std::string& file : files) {
    LoadResult r = load_file(file);
    EXPECT_TRUE(r.ok()) << describe(r);
  }
}

}  // namespace
}  // namespace kairos::config

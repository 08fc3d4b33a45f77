#include <gtest/gtest.h>

#include "config/loader.h"

namespace kairos::config {
namespace {
TEST(Loader, Smoke) {
  auto r = load_string("version: 1\njobs:\n  a:\n    command: [/bin/true]\n    schedule: {every: 5m}\n", "k.yaml");
  for (auto& e : r.errors) ADD_FAILURE() << e.str();
  ASSERT_TRUE(r.ok());
}
}  // namespace
}  // namespace kairos::config

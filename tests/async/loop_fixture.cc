#include "loop_fixture.h"

#include <cstdio>

namespace kairos::async::testing {

void LoopTest::SetUp() {
  ASSERT_EQ(uv_loop_init(&uv_), 0);
  loop_ = std::make_unique<Loop>(&uv_);
}

void LoopTest::run(Task<void> task) {
  scope_.spawn(std::move(task));
  loop_->run();
  ASSERT_EQ(scope_.active(), 0u) << "loop ended with tasks still suspended";
}

void LoopTest::TearDown() {
  loop_->close();
  uv_run(&uv_, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&uv_);
  if (rc != 0) {
    std::fprintf(stderr, "live handles:\n");
    uv_print_all_handles(&uv_, stderr);
  }
  EXPECT_EQ(rc, 0);
  loop_.reset();
}

}  // namespace kairos::async::testing

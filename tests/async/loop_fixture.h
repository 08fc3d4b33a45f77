// A real libuv loop for tests. run() drives a task to completion; TearDown closes
// every handle and checks uv_loop_close() == 0, printing live handles if not.
#pragma once

#include <gtest/gtest.h>
#include <uv.h>

#include <chrono>
#include <memory>

#include "async/loop.h"
#include "async/scope.h"
#include "async/task.h"

namespace kairos::async::testing {

class LoopTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  /// Runs the loop until `task` and everything else finished.
  void run(Task<void> task);
  template <typename T>
  T run_value(Task<T> task) {
    std::optional<T> out;
    run(capture(std::move(task), &out));
    return std::move(*out);
  }
  Loop& loop() { return *loop_; }
  AsyncScope& scope() { return scope_; }
  static double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
        .count();
  }

 private:
  template <typename T>
  static Task<void> capture(Task<T> task, std::optional<T>* out) {
    out->emplace(co_await task);
  }
  uv_loop_t uv_{};
  std::unique_ptr<Loop> loop_;
  AsyncScope scope_;
};

}  // namespace kairos::async::testing

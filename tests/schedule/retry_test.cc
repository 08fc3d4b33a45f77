#include "schedule/retry.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace kairos::schedule {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

config::RetryPolicy policy(milliseconds backoff, double factor, milliseconds max_backoff,
                           double jitter = 0) {
  config::RetryPolicy p;
  p.attempts = 5;
  p.backoff = backoff;
  p.factor = factor;
  p.max_backoff = max_backoff;
  p.jitter = jitter;
  return p;
}

struct DelayCase {
  const char* name;
  config::RetryPolicy policy;
  int n;       // the attempt that just ended
  double u01;  // the random draw
  milliseconds expected;
};

class RetryDelay : public ::testing::TestWithParam<DelayCase> {};

TEST_P(RetryDelay, Table) {
  const DelayCase& c = GetParam();
  EXPECT_EQ(retry_delay(c.policy, c.n, c.u01), c.expected);
}

const double kAlmostOne = std::nextafter(1.0, 0.0);
const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();

INSTANTIATE_TEST_SUITE_P(
    Backoff, RetryDelay,
    ::testing::Values(
        // backoff · factor^(n−1)
        DelayCase{"first", policy(1s, 2, 1h), 1, 0.5, 1s},
        DelayCase{"second", policy(1s, 2, 1h), 2, 0.5, 2s},
        DelayCase{"fifth", policy(1s, 2, 1h), 5, 0.5, 16s},
        DelayCase{"factor_one_is_constant", policy(30s, 1, 1h), 9, 0.5, 30s},
        DelayCase{"fractional_factor", policy(1s, 1.5, 1h), 3, 0.5, 2250ms},
        // the cap
        DelayCase{"capped", policy(1s, 2, 10s), 5, 0.5, 10s},
        DelayCase{"cap_below_backoff", policy(1min, 2, 10s), 1, 0.5, 10s},
        DelayCase{"huge_n", policy(1s, 2, 1h), 100'000, 0.5, 1h},
        DelayCase{"largest_n", policy(1s, 2, 1h), std::numeric_limits<int>::max(), 0.5, 1h},
        DelayCase{"infinite_factor", policy(1s, kInf, 1h), 2, 0.5, 1h},
        DelayCase{"nan_factor", policy(1s, kNaN, 1h), 2, 0.5, 1h},
        DelayCase{"zero_backoff_huge_n", policy(0s, 2, 1h), 100'000, 0.5, 0s},
        DelayCase{"largest_max_backoff", policy(1s, 10, milliseconds::max()), 1000, 0.5,
                  milliseconds(9'000'000'000'000'000'000)},
        // jitter: uniform [1−j, 1+j] around the capped delay
        DelayCase{"jitter_low_end", policy(10s, 2, 1h, 0.2), 1, 0.0, 8s},
        DelayCase{"jitter_middle", policy(10s, 2, 1h, 0.2), 1, 0.5, 10s},
        DelayCase{"jitter_high_end", policy(10s, 2, 1h, 0.2), 1, kAlmostOne, 12s},
        DelayCase{"jitter_after_cap", policy(10s, 2, 1h, 0.5), 30, kAlmostOne, 5400s},
        DelayCase{"full_jitter_can_be_zero", policy(10s, 2, 1h, 1), 1, 0.0, 0s},
        DelayCase{"jitter_above_one_clamped", policy(10s, 2, 1h, 3), 1, kAlmostOne, 20s},
        DelayCase{"nan_draw_counts_as_zero", policy(10s, 2, 1h, 0.2), 1, kNaN, 8s}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Retryable, OnlyFailuresAndTimeoutsThePolicyNames) {
  config::RetryPolicy p;
  EXPECT_TRUE(retryable(p, AttemptEnd::failed));
  EXPECT_TRUE(retryable(p, AttemptEnd::timed_out));
  EXPECT_FALSE(retryable(p, AttemptEnd::succeeded));
  EXPECT_FALSE(retryable(p, AttemptEnd::cancelled));
  p.on_failure = false;
  EXPECT_FALSE(retryable(p, AttemptEnd::failed));
  EXPECT_TRUE(retryable(p, AttemptEnd::timed_out));
  p.on_timeout = false;
  EXPECT_FALSE(retryable(p, AttemptEnd::timed_out));
}

struct NextCase {
  const char* name;
  int attempts;
  bool on_failure;
  int just_ended;
  AttemptEnd end;
  std::optional<milliseconds> expected;
};

class NextRetry : public ::testing::TestWithParam<NextCase> {};

TEST_P(NextRetry, Table) {
  const NextCase& c = GetParam();
  config::RetryPolicy p = policy(1s, 2, 1h);
  p.attempts = c.attempts;
  p.on_failure = c.on_failure;
  EXPECT_EQ(next_retry(p, c.just_ended, c.end, 0.5), c.expected);
}

INSTANTIATE_TEST_SUITE_P(
    Attempts, NextRetry,
    ::testing::Values(
        NextCase{"failed_first_of_three", 3, true, 1, AttemptEnd::failed, 1s},
        NextCase{"timed_out_second_of_three", 3, true, 2, AttemptEnd::timed_out, 2s},
        NextCase{"last_attempt", 3, true, 3, AttemptEnd::failed, std::nullopt},
        NextCase{"no_retry_configured", 1, true, 1, AttemptEnd::failed, std::nullopt},
        NextCase{"zero_attempts_means_one", 0, true, 1, AttemptEnd::failed, std::nullopt},
        NextCase{"succeeded", 3, true, 1, AttemptEnd::succeeded, std::nullopt},
        NextCase{"cancelled", 3, true, 1, AttemptEnd::cancelled, std::nullopt},
        NextCase{"failure_not_retried", 3, false, 1, AttemptEnd::failed, std::nullopt},
        NextCase{"timeout_still_retried", 3, false, 1, AttemptEnd::timed_out, 1s}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace kairos::schedule

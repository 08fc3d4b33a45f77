// Retries: whether an attempt's outcome is retried and how long to wait before the next attempt
// (docs/semantics.md, "Retries"). Pure: the caller draws the random number.
#pragma once

#include <chrono>
#include <optional>

#include "config/job_spec.h"

namespace kairos::schedule {

/// How an attempt ended.
enum class AttemptEnd { succeeded, failed, timed_out, cancelled };

/// The delay before attempt n+1: min(max_backoff, backoff·factor^(n−1)), then scaled by
/// 1 − jitter + 2·jitter·u01 (`u01` uniform in [0, 1)). Finite and >= 0 for any input.
std::chrono::milliseconds retry_delay(const config::RetryPolicy& policy, int n, double u01);

/// Only failures and timeouts are retried, each when the policy says so.
bool retryable(const config::RetryPolicy& policy, AttemptEnd end);

/// The delay before the attempt after `attempt_just_ended` (1-based), or nullopt when there is
/// none: it succeeded or was cancelled, the policy does not retry its outcome, or it was the last.
std::optional<std::chrono::milliseconds> next_retry(const config::RetryPolicy& policy,
                                                    int attempt_just_ended, AttemptEnd end,
                                                    double u01);

}  // namespace kairos::schedule

#include "schedule/retry.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace kairos::schedule {
namespace {

/// x clamped to [0, 1]; NaN counts as 0.
double unit(double x) {
  return x > 0 ? std::min(x, 1.0) : 0.0;
}

}  // namespace

std::chrono::milliseconds retry_delay(const config::RetryPolicy& p, int n, double u01) {
  const double cap = std::max<double>(0, static_cast<double>(p.max_backoff.count()));
  const double backoff = std::max<double>(0, static_cast<double>(p.backoff.count()));
  double delay = 0;
  if (backoff > 0) {
    // pow() may overflow to inf (or give NaN for a NaN factor); `grown < cap` is false for
    // both, so they become the cap and never reach the integer conversion.
    const double grown = backoff * std::pow(p.factor, std::max(0, n - 1));
    delay = grown < cap ? std::max(0.0, grown) : cap;
  }
  const double j = unit(p.jitter);
  delay *= 1.0 - j + 2.0 * j * unit(u01);
  // Jitter may take the capped delay up to twice max_backoff: keep it within int64.
  constexpr double kLongest = 9.0e18;
  return std::chrono::milliseconds(
      static_cast<std::int64_t>(std::llround(std::min(delay, kLongest))));
}

bool retryable(const config::RetryPolicy& p, AttemptEnd end) {
  switch (end) {
    case AttemptEnd::failed:
      return p.on_failure;
    case AttemptEnd::timed_out:
      return p.on_timeout;
    case AttemptEnd::succeeded:
    case AttemptEnd::cancelled:
      return false;
  }
  return false;
}

std::optional<std::chrono::milliseconds> next_retry(const config::RetryPolicy& p,
                                                    int attempt_just_ended, AttemptEnd end,
                                                    double u01) {
  if (attempt_just_ended >= std::max(1, p.attempts) || !retryable(p, end)) return std::nullopt;
  return retry_delay(p, attempt_just_ended, u01);
}

}  // namespace kairos::schedule

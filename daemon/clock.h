// Wall-clock helpers in the history schema's unit (Unix milliseconds, UTC).
#pragma once

#include <chrono>
#include <cstdint>

namespace kairos::daemon {

using Millis = std::int64_t;

inline Millis now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace kairos::daemon

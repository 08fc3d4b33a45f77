// Deadline: one entry of a timer queue (WallTimer, Clock). Whoever waits for an instant
// derives from it; the queue calls expire() exactly once, after taking the entry out, so
// whichever of expiry, clock change or cancellation comes first wins and the others find
// `queued` false.
#pragma once

#include <chrono>
#include <cstdint>
#include <set>

namespace kairos::async {

enum class WakeReason { reached, clock_changed, cancelled };

struct Deadline {
  /// Nanoseconds since the epoch of the queue's clock (Unix epoch for wall time).
  std::chrono::nanoseconds at{};
  std::uint64_t seq = 0;  // insertion order: equal deadlines expire first-come first-served
  bool queued = false;
  virtual void expire(WakeReason why) = 0;

 protected:
  Deadline() = default;
  ~Deadline() = default;
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;
};

/// Deadlines ordered by instant, then by insertion.
class DeadlineQueue {
 public:
  void insert(Deadline* d) {
    d->seq = next_seq_++;
    d->queued = true;
    set_.insert(d);
  }
  /// False when `d` was not queued.
  bool erase(Deadline* d) {
    if (!d->queued) return false;
    set_.erase(d);
    d->queued = false;
    return true;
  }
  bool empty() const { return set_.empty(); }
  std::size_t size() const { return set_.size(); }
  Deadline* earliest() const { return set_.empty() ? nullptr : *set_.begin(); }
  /// Takes out and expires every deadline at or before `t`, earliest first.
  void expire_until(std::chrono::nanoseconds t, WakeReason why) {
    while (!set_.empty() && (*set_.begin())->at <= t) expire_one(why);
  }
  void expire_all(WakeReason why) {
    while (!set_.empty()) expire_one(why);
  }

 private:
  void expire_one(WakeReason why) {
    Deadline* d = *set_.begin();
    erase(d);
    d->expire(why);
  }
  struct Order {
    bool operator()(const Deadline* a, const Deadline* b) const {
      return a->at != b->at ? a->at < b->at : a->seq < b->seq;
    }
  };
  std::set<Deadline*, Order> set_;
  std::uint64_t next_seq_ = 0;
};

}  // namespace kairos::async

// Event and Semaphore for coroutines on one loop. Waiters are resumed through the
// loop's ready queue. Both waits take a CancelToken: cancellation removes the waiter
// and resumes it with a "not acquired" result; a grant that already happened wins.
#pragma once

#include <coroutine>
#include <cstddef>
#include <memory>
#include <utility>

#include "async/cancel.h"
#include "async/loop.h"

namespace kairos::async {

namespace detail {
/// Minimal intrusive FIFO; nodes unlink themselves.
struct WaitNode {
  WaitNode* prev = nullptr;
  WaitNode* next = nullptr;
  bool linked = false;
};
struct WaitList {
  WaitNode* head = nullptr;
  WaitNode* tail = nullptr;
  std::size_t size = 0;
  void push_back(WaitNode* n);
  void erase(WaitNode* n);
  WaitNode* pop_front();
  bool empty() const { return head == nullptr; }
};
}  // namespace detail

class Event {
 public:
  Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  bool is_set() const { return set_; }
  /// Wakes every waiter; later waits complete at once until reset().
  void set();
  void reset() { set_ = false; }

  class Awaiter : detail::WaitNode {
   public:
    Awaiter(Event& e, CancelToken t) : ev_(e), token_(std::move(t)) {}
    Awaiter(const Awaiter&) = delete;
    Awaiter& operator=(const Awaiter&) = delete;
    ~Awaiter();
    bool await_ready() const noexcept { return ev_.set_ || token_.requested(); }
    void await_suspend(std::coroutine_handle<> h);
    /// true when the event was set, false when cancelled first.
    bool await_resume() {
      cancel_.reset();
      return ev_.set_ || woken_;
    }

   private:
    friend class Event;
    Event& ev_;
    CancelToken token_;
    CancelRegistration cancel_;
    std::coroutine_handle<> waiter_;
    bool woken_ = false;
  };
  Awaiter wait(CancelToken token = {}) { return Awaiter(*this, std::move(token)); }

 private:
  detail::WaitList waiters_;
  bool set_ = false;
};

class Semaphore;

/// One held slot of a Semaphore; released when destroyed (on every path). It co-owns the
/// semaphore: a pool removed by a reload lives on until its last permit is given back.
class Permit {
 public:
  Permit() = default;
  explicit Permit(std::shared_ptr<Semaphore> s) : sem_(std::move(s)) {}
  Permit(Permit&& o) noexcept : sem_(std::move(o.sem_)) {}
  Permit& operator=(Permit&& o) noexcept;
  Permit(const Permit&) = delete;
  Permit& operator=(const Permit&) = delete;
  ~Permit() { release(); }
  explicit operator bool() const { return sem_ != nullptr; }
  void release();

 private:
  std::shared_ptr<Semaphore> sem_;
};

/// Counting semaphore, strictly FIFO: a released slot is handed to the oldest waiter,
/// so a newcomer can never overtake someone already waiting. Always shared-owned (create()),
/// because every Permit keeps its semaphore alive.
class Semaphore : public std::enable_shared_from_this<Semaphore> {
  struct Key {};

 public:
  static std::shared_ptr<Semaphore> create(std::size_t slots) {
    return std::make_shared<Semaphore>(Key{}, slots);
  }
  Semaphore(Key, std::size_t slots) : available_(slots), capacity_(slots) {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  std::size_t available() const { return available_; }
  std::size_t capacity() const { return capacity_; }
  std::size_t waiting() const { return waiters_.size; }
  /// Changes the number of slots (config reload); extra waiters are granted at once.
  void resize(std::size_t slots);

  Permit try_acquire();

  class Awaiter : detail::WaitNode {
   public:
    Awaiter(Semaphore& s, CancelToken t) : sem_(s), token_(std::move(t)) {}
    Awaiter(const Awaiter&) = delete;
    Awaiter& operator=(const Awaiter&) = delete;
    ~Awaiter();
    bool await_ready();
    void await_suspend(std::coroutine_handle<> h);
    /// A held Permit, or an empty one when cancelled before a slot was granted.
    Permit await_resume() {
      cancel_.reset();
      return granted_ ? Permit(sem_.shared_from_this()) : Permit();
    }

   private:
    friend class Semaphore;
    Semaphore& sem_;
    CancelToken token_;
    CancelRegistration cancel_;
    std::coroutine_handle<> waiter_;
    bool granted_ = false;
  };
  Awaiter acquire(CancelToken token = {}) { return Awaiter(*this, std::move(token)); }

 private:
  friend class Permit;
  void release_one();
  detail::WaitList waiters_;
  std::size_t available_;
  std::size_t capacity_;
  std::size_t debt_ = 0;  // slots to swallow after a shrinking resize
};

}  // namespace kairos::async

#include "async/sync.h"

namespace kairos::async {
namespace detail {

void WaitList::push_back(WaitNode* n) {
  n->prev = tail;
  n->next = nullptr;
  if (tail) tail->next = n;
  else head = n;
  tail = n;
  n->linked = true;
  ++size;
}

void WaitList::erase(WaitNode* n) {
  if (!n->linked) return;
  if (n->prev) n->prev->next = n->next;
  else head = n->next;
  if (n->next) n->next->prev = n->prev;
  else tail = n->prev;
  n->prev = n->next = nullptr;
  n->linked = false;
  --size;
}

WaitNode* WaitList::pop_front() {
  WaitNode* n = head;
  if (n) erase(n);
  return n;
}

}  // namespace detail

// --- Event ------------------------------------------------------------------------

void Event::set() {
  set_ = true;
  while (auto* n = waiters_.pop_front()) {
    auto* a = static_cast<Awaiter*>(n);
    a->woken_ = true;
    a->cancel_.reset();
    Loop::current().schedule(a->waiter_);
  }
}

Event::Awaiter::~Awaiter() { ev_.waiters_.erase(this); }

void Event::Awaiter::await_suspend(std::coroutine_handle<> h) {
  waiter_ = h;
  ev_.waiters_.push_back(this);
  cancel_.arm(token_, [this] {
    if (!linked) return;  // already woken by set(): that wins
    ev_.waiters_.erase(this);
    Loop::current().schedule(waiter_);
  });
}

// --- Semaphore --------------------------------------------------------------------

Permit& Permit::operator=(Permit&& o) noexcept {
  if (this != &o) {
    release();
    sem_ = std::move(o.sem_);
  }
  return *this;
}

void Permit::release() {
  if (auto s = std::exchange(sem_, nullptr)) s->release_one();
}

Permit Semaphore::try_acquire() {
  if (available_ > 0 && waiters_.empty()) {
    --available_;
    return Permit(shared_from_this());
  }
  return Permit();
}

void Semaphore::release_one() {
  if (debt_ > 0) {
    --debt_;
    return;
  }
  if (auto* n = waiters_.pop_front()) {
    // Hand the slot straight to the oldest waiter: available_ never rises, so no
    // newcomer can take it in between.
    auto* a = static_cast<Awaiter*>(n);
    a->granted_ = true;
    a->cancel_.reset();
    Loop::current().schedule(a->waiter_);
    return;
  }
  ++available_;
}

void Semaphore::resize(std::size_t slots) {
  if (slots >= capacity_) {
    std::size_t extra = slots - capacity_;
    capacity_ = slots;
    while (extra > 0 && debt_ > 0) --extra, --debt_;
    while (extra-- > 0) {
      ++available_;
      // Re-run release logic so waiters get the new slots in FIFO order.
      if (!waiters_.empty()) {
        --available_;
        release_one();
      }
    }
  } else {
    std::size_t fewer = capacity_ - slots;
    capacity_ = slots;
    while (fewer > 0 && available_ > 0) --fewer, --available_;
    debt_ += fewer;  // taken back as running holders release
  }
}

Semaphore::Awaiter::~Awaiter() { sem_.waiters_.erase(this); }

bool Semaphore::Awaiter::await_ready() {
  if (token_.requested()) return true;
  if (sem_.available_ > 0 && sem_.waiters_.empty()) {
    --sem_.available_;
    granted_ = true;
    return true;
  }
  return false;
}

void Semaphore::Awaiter::await_suspend(std::coroutine_handle<> h) {
  waiter_ = h;
  sem_.waiters_.push_back(this);
  cancel_.arm(token_, [this] {
    if (!linked) return;  // the grant came first and wins
    sem_.waiters_.erase(this);
    Loop::current().schedule(waiter_);
  });
}

}  // namespace kairos::async

#include "async/cancel.h"

namespace kairos::async {

void CancelRegistration::arm(const CancelToken& token, std::function<void()> fn) {
  reset();
  if (!token.state_) return;
  if (token.state_->requested) {
    fn();
    return;
  }
  state_ = token.state_;
  fn_ = std::move(fn);
  next_ = state_->head;
  if (next_) next_->prev_ = this;
  state_->head = this;
  linked_ = true;
}

void CancelRegistration::reset() {
  if (linked_) {
    if (prev_) prev_->next_ = next_;
    else state_->head = next_;
    if (next_) next_->prev_ = prev_;
    linked_ = false;
  }
  prev_ = next_ = nullptr;
  state_.reset();
  fn_ = nullptr;
}

CancelSource::CancelSource(const CancelToken& parent)
    : state_(std::make_shared<detail::CancelState>()),
      parent_link_(std::make_unique<CancelRegistration>(parent, [this] { request(); })) {}

void CancelSource::request() {
  if (state_->requested) return;
  state_->requested = true;
  // Unlink each registration before calling it, so a callback may destroy any
  // registration (its own included) without corrupting the walk.
  auto keep = state_;
  while (auto* r = keep->head) {
    keep->head = r->next_;
    if (r->next_) r->next_->prev_ = nullptr;
    r->linked_ = false;
    r->prev_ = r->next_ = nullptr;
    auto fn = std::move(r->fn_);
    r->state_.reset();
    if (fn) fn();
  }
}

}  // namespace kairos::async

// Cooperative cancellation. A CancelSource requests; CancelTokens observe; whatever a
// task is awaiting registers a CancelRegistration so a request wakes it at once.
// Callbacks run synchronously inside request(): they must only disarm their operation
// and schedule() the waiter, never resume it directly.
#pragma once

#include <functional>
#include <memory>

namespace kairos::async {

class CancelRegistration;

namespace detail {
struct CancelState {
  bool requested = false;
  CancelRegistration* head = nullptr;
};
}  // namespace detail

class CancelToken {
 public:
  CancelToken() = default;  // a token that is never cancelled
  bool requested() const { return state_ && state_->requested; }
  bool can_be_cancelled() const { return static_cast<bool>(state_); }

 private:
  friend class CancelSource;
  friend class CancelRegistration;
  explicit CancelToken(std::shared_ptr<detail::CancelState> s) : state_(std::move(s)) {}
  std::shared_ptr<detail::CancelState> state_;
};

/// Runs `fn` once when the token is cancelled (immediately if it already is), unless
/// the registration is destroyed first.
class CancelRegistration {
 public:
  CancelRegistration() = default;
  CancelRegistration(const CancelToken& token, std::function<void()> fn) {
    arm(token, std::move(fn));
  }
  ~CancelRegistration() { reset(); }
  CancelRegistration(const CancelRegistration&) = delete;
  CancelRegistration& operator=(const CancelRegistration&) = delete;
  /// (Re)registers: drops any previous registration first.
  void arm(const CancelToken& token, std::function<void()> fn);
  void reset();

 private:
  friend class CancelSource;
  std::shared_ptr<detail::CancelState> state_;
  std::function<void()> fn_;
  CancelRegistration* prev_ = nullptr;
  CancelRegistration* next_ = nullptr;
  bool linked_ = false;
};

class CancelSource {
 public:
  CancelSource() : state_(std::make_shared<detail::CancelState>()) {}
  /// A source that is also cancelled when `parent` is.
  explicit CancelSource(const CancelToken& parent);
  CancelSource(const CancelSource&) = delete;
  CancelSource& operator=(const CancelSource&) = delete;

  CancelToken token() const { return CancelToken(state_); }
  bool requested() const { return state_->requested; }
  /// Requests cancellation; runs every registered callback once. Idempotent.
  void request();

 private:
  std::shared_ptr<detail::CancelState> state_;
  // Only a child source has one; every job holds a source, so 8 bytes, not 72.
  std::unique_ptr<CancelRegistration> parent_link_;
};

}  // namespace kairos::async

// Owning wrapper for one libuv handle. The handle lives on the heap apart from any
// coroutine frame; the destructor stops it (via uv_close), clears handle->data so no
// late callback can reach a dead owner, and the memory is freed only in the close
// callback, as libuv requires.
#pragma once

#include <uv.h>

#include <utility>

namespace kairos::async {

template <typename H>
class UvHandle {
 public:
  UvHandle() : h_(new H{}) {}
  ~UvHandle() { close(); }
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;
  UvHandle(UvHandle&& o) noexcept : h_(std::exchange(o.h_, nullptr)), inited_(o.inited_) {}
  UvHandle& operator=(UvHandle&&) = delete;

  H* get() const { return h_; }
  uv_handle_t* base() const { return reinterpret_cast<uv_handle_t*>(h_); }
  /// Call after a successful uv_*_init: from then on the handle must be uv_close'd.
  void mark_initialized() { inited_ = true; }

  /// Closes now (idempotent). Safe to call from inside the handle's own callback.
  void close() {
    if (!h_) return;
    H* h = std::exchange(h_, nullptr);
    if (!inited_) {
      delete h;
      return;
    }
    auto* base = reinterpret_cast<uv_handle_t*>(h);
    base->data = nullptr;
    if (!uv_is_closing(base)) {
      uv_close(base, [](uv_handle_t* p) { delete reinterpret_cast<H*>(p); });
    }
  }

 private:
  H* h_;
  bool inited_ = false;
};

}  // namespace kairos::async

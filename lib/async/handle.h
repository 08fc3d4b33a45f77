// Owning wrapper for one libuv handle. The handle lives on the heap apart from any
// coroutine frame; the destructor stops it (via uv_close), clears handle->data so no
// late callback can reach a dead owner, and the memory is freed only in the close
// callback, as libuv requires.
#pragma once

#include <uv.h>

#include <cstdio>
#include <cstdlib>
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
  /// Runs `uv_init(loop, handle, args...)` (uv_timer_init, uv_pipe_init, ...) and returns its
  /// result; on success the handle must be uv_close'd from then on, which close() does.
  template <class Init, class... Args>
  [[nodiscard]] int init(Init uv_init, uv_loop_t* loop, Args&&... args) {
    int rc = uv_init(loop, h_, std::forward<Args>(args)...);
    if (rc == 0) inited_ = true;
    return rc;
  }

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

/// For the libuv calls that cannot fail with valid arguments (uv_timer_init, uv_idle_init,
/// uv_check_init): a failure means a broken invariant, and kairos stops saying which.
inline void must(int rc, const char* what) {
  if (rc == 0) return;
  std::fprintf(stderr, "kairos: %s failed: %s\n", what, uv_strerror(rc));
  std::abort();
}

}  // namespace kairos::async

#include "async/signals.h"

#include <cstring>

namespace kairos::async {

std::unique_ptr<SignalSet> SignalSet::create(Loop& loop, const std::vector<int>& signals,
                                             std::string* error) {
  std::unique_ptr<SignalSet> set(new SignalSet(loop));
  for (int sig : signals) {
    auto h = std::make_unique<UvHandle<uv_signal_t>>();
    int rc = h->init(uv_signal_init, loop.uv());
    if (rc == 0) {
      h->get()->data = set.get();
      rc = uv_signal_start(
          h->get(),
          [](uv_signal_t* s, int signum) {
            if (s->data) static_cast<SignalSet*>(s->data)->box_.post(signum);
          },
          sig);
    }
    if (rc != 0) {
      if (error) *error = std::string("signal ") + ::strsignal(sig) + ": " + uv_strerror(rc);
      return nullptr;
    }
    uv_unref(h->base());  // signals alone must not keep the daemon alive
    set->handles_.push_back(std::move(h));
  }
  return set;
}

void SignalSet::close() {
  handles_.clear();  // each UvHandle closes its handle
  box_.wake_all();
}

std::unique_ptr<DirectoryWatch> DirectoryWatch::create(Loop& loop,
                                                       const std::vector<std::string>& dirs,
                                                       std::vector<std::string>* warnings) {
  std::unique_ptr<DirectoryWatch> w(new DirectoryWatch(loop));
  for (const auto& d : dirs) {
    auto h = std::make_unique<UvHandle<uv_fs_event_t>>();
    int rc = h->init(uv_fs_event_init, loop.uv());
    if (rc == 0) {
      h->get()->data = w.get();
      rc = uv_fs_event_start(
          h->get(),
          [](uv_fs_event_t* e, const char* name, int, int) {
            if (e->data && name) static_cast<DirectoryWatch*>(e->data)->box_.post(name);
          },
          d.c_str(), 0);
    }
    if (rc != 0) {
      if (warnings) warnings->push_back(d + ": " + uv_strerror(rc));
      continue;
    }
    uv_unref(h->base());
    w->handles_.push_back(std::move(h));
  }
  return w;
}

void DirectoryWatch::close() {
  handles_.clear();
  box_.wake_all();
}

}  // namespace kairos::async

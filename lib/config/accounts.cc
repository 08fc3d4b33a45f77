#include "config/accounts.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace kairos::config {
namespace {

// The *_r functions report "buffer too small" with ERANGE; grow and retry, as their man
// pages advise, instead of guessing a size that some directory service will exceed.
template <typename Entry, typename Lookup>
bool lookup(const std::string& name, Lookup fn) {
  std::vector<char> buffer(1024);
  for (;;) {
    Entry entry;
    Entry* result = nullptr;
    const int rc = fn(name.c_str(), &entry, buffer.data(), buffer.size(), &result);
    if (rc == ERANGE && buffer.size() < (1u << 20)) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    return rc == 0 && result != nullptr;
  }
}

}  // namespace

bool user_exists(const std::string& name) {
  if (name.empty()) return false;
  return lookup<passwd>(name, getpwnam_r);
}

bool group_exists(const std::string& name) {
  if (name.empty()) return false;
  return lookup<group>(name, getgrnam_r);
}

}  // namespace kairos::config

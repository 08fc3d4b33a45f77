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
template <typename Entry, typename Key, typename Lookup>
std::optional<Entry> lookup(Key key, std::vector<char>& buffer, Lookup fn) {
  buffer.resize(1024);
  for (;;) {
    Entry entry{};
    Entry* result = nullptr;
    const int rc = fn(key, &entry, buffer.data(), buffer.size(), &result);
    if (rc == ERANGE && buffer.size() < (1u << 20)) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (rc != 0 || result == nullptr) return std::nullopt;
    return entry;
  }
}

std::optional<Account> account(const std::optional<passwd>& pw) {
  if (!pw) return std::nullopt;
  Account a;
  a.uid = pw->pw_uid;
  a.gid = pw->pw_gid;
  a.name = pw->pw_name ? pw->pw_name : "";
  a.home = pw->pw_dir ? pw->pw_dir : "";
  a.shell = pw->pw_shell ? pw->pw_shell : "";
  return a;
}

}  // namespace

std::optional<Account> find_user(const std::string& name) {
  if (name.empty()) return std::nullopt;
  std::vector<char> buf;
  return account(lookup<passwd>(name.c_str(), buf, getpwnam_r));
}

std::optional<Account> find_user(uid_t uid) {
  std::vector<char> buf;
  return account(lookup<passwd>(uid, buf, getpwuid_r));
}

std::optional<gid_t> find_group(const std::string& name) {
  if (name.empty()) return std::nullopt;
  std::vector<char> buf;
  auto g = lookup<group>(name.c_str(), buf, getgrnam_r);
  if (!g) return std::nullopt;
  return g->gr_gid;
}

}  // namespace kairos::config
